#!/usr/bin/env bash
echo "PASS abi/placeholder"
