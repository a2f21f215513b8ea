# Faults. tests/test_faults.c (full disks, file size limits, unwritable
# paths, leftovers of killed saves) is built and run with the other
# tests/test_*.c; tests/check_kill_resume.sh kills training, a search and
# compress at random moments and checks that the resumed runs end exactly
# as uninterrupted ones. The script slows the saves down with an
# LD_PRELOAD library, so that kills land inside them too; it is built
# without the sanitizers (it is loaded before their runtime).
SLOW_SAVE := $(BUILD)/tests/slow_save.so
$(SLOW_SAVE): tests/slow_save.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 $(WARN) -fPIC -shared -o $@ $< -ldl

test: $(SLOW_SAVE)
EXTRA_TEST_SCRIPTS += tests/check_kill_resume.sh
