# Several processes: scripts/launch.sh and the rlkd command under it
# (tests/check_launch.sh), run by `make test`. The communicator's own tests
# are tests/test_comm.c (a test program like the others) and, on GPUs,
# tests/gpu/test_comm_gpu.c.
EXTRA_TEST_SCRIPTS += tests/check_launch.sh
