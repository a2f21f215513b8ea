/*
 * What rlkd's fuzz targets (tests/fuzz/fuzz_<name>.c) share with each
 * other, with their replay program and with the seed writer: a scratch
 * directory for the files the library reads, the network and the search
 * that files are loaded into, checkpoints rewritten with one metadata
 * string (the structure-aware targets), the check of every status a parser
 * returns, and a way back from the rlkd command's exit() for the CLI
 * targets.
 */
#ifndef RLKD_FUZZ_H
#define RLKD_FUZZ_H

#include "rlkd.h"

#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

struct cJSON;

/* libFuzzer's entry point: each fuzz_<name>.c defines it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- files ---- */

#define FUZZ_PATH_BYTES 512

/* "<scratch>/<name>" into path; the scratch directory is this process's
 * (in /dev/shm when it can be, else $TMPDIR or /tmp), made on first use
 * and removed with its contents at exit. */
void fuzz_path(char path[FUZZ_PATH_BYTES], const char *name);
/* Writes the bytes to path, replacing the file. */
void fuzz_write_file(const char *path, const void *data, size_t size);
/* The whole file in a new buffer (free() it); *size its length. */
uint8_t *fuzz_read_file(const char *path, size_t *size);
/* The input as a new NUL-terminated string (free() it), cut at its first
 * NUL byte. */
char *fuzz_text(const uint8_t *data, size_t size);
/* The little-endian uint32 at data, or 0 when size < 4. */
uint32_t fuzz_u32(const uint8_t *data, size_t size);

/* A width x height test image as PNG: libpng's color_type and bit_depth
 * (a palette of 16 colours for PNG_COLOR_TYPE_PALETTE), Adam7 when
 * interlaced. */
void fuzz_write_png(const char *path, int width, int height, int color_type,
                    int bit_depth, int interlaced);
/* The same as JPEG: TurboJPEG's pixel format (TJPF_RGB, TJPF_GRAY,
 * TJPF_CMYK), chroma subsampling (TJSAMP_*) and flags (TJFLAG_*). */
void fuzz_write_jpeg(const char *path, int width, int height,
                     int pixel_format, int subsampling, int flags);

/* ---- checks ---- */

/* Statuses a call may fail with, for fuzz_expect. */
#define FUZZ_ALLOW(status) (1u << (status))

/* A finding: prints why and aborts (libFuzzer and the sanitizers report
 * it with the input). Also used for set-up that cannot go on. */
noreturn void fuzz_abort(const char *format, ...)
    __attribute__((format(printf, 1, 2)));
/* RLKD_OK, or a failure among `allowed` (FUZZ_ALLOW bits) that left a
 * message; anything else is a finding. */
void fuzz_expect(rlkd_status status, unsigned allowed, const char *call);

/* ---- what files are loaded into ---- */

/* A CPU context with one thread and seed 1, made on first use. */
rlkd_context *fuzz_context(void);
/* A small network with a layer of every kind, [3, 8, 8] to 5 classes. */
rlkd_net *fuzz_every_kind_net(void);
/* A small network of groups that can all be pruned (a residual stream, SE,
 * a depthwise convolution, a concatenation), [3, 6, 6] to 3 classes, each
 * group keeping half of its channels. */
rlkd_net *fuzz_masked_net(void);
/* A search over 3 toy layers with a small agent (8 hidden units, 16
 * transitions, 12 episodes of which 4 warm-up): the search whose states
 * the search target resumes. */
rlkd_search *fuzz_search_create(void);

/* A trainer of a new fuzz_every_kind_net, the default SGD, 3 epochs:
 * the trainer whose states the trainer target resumes. */
rlkd_trainer *fuzz_trainer_create(void);
/* One training step of the trainer on a fixed batch of 2 images. */
rlkd_status fuzz_trainer_step(rlkd_trainer *trainer);
/* Destroys the trainer and its network. */
void fuzz_trainer_destroy(rlkd_trainer *trainer);

/* A saved checkpoint split into its parsed header and its data, to write
 * again with one metadata string changed. */
typedef struct fuzz_checkpoint {
    struct cJSON *header;
    uint8_t *data;
    size_t data_size;
} fuzz_checkpoint;

/* net saved with rlkd_net_save and read back. */
void fuzz_checkpoint_of(const rlkd_net *net, fuzz_checkpoint *out);
/* The checkpoint's metadata string `key` (NULL: none). */
const char *fuzz_checkpoint_metadata(const fuzz_checkpoint *c,
                                     const char *key);
/* Writes the checkpoint to path with metadata `key` set to value. */
void fuzz_checkpoint_write(const fuzz_checkpoint *c, const char *key,
                           const char *value, const char *path);
void fuzz_checkpoint_free(fuzz_checkpoint *c);

/* ---- the rlkd command's files (CLI targets) ---- */

/* What the command's files call for exit() (they are compiled with
 * -Dexit=fuzz_cli_exit): back to fuzz_cli_call with the status. */
noreturn void fuzz_cli_exit(int code);
/* Runs body(arg) with the command's stdout and stderr discarded; the exit
 * status it ended with (0 when it returned). */
int fuzz_cli_call(void (*body)(void *), void *arg);

#endif
