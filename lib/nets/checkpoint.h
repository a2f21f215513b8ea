/*
 * The one safetensors writer and reader of rlkd, shared by network
 * checkpoints (rlkd_net_save, rlkd_net_load_weights, rlkd_net_load) and
 * trainer checkpoints (rlkd_trainer_save, rlkd_trainer_resume). A file holds
 * a network's parameters and buffers, then any extra named tensors (a
 * trainer's optimiser state), and the architecture plus any extra strings
 * in its __metadata__.
 */
#ifndef RLKD_CHECKPOINT_H
#define RLKD_CHECKPOINT_H

#include "net_internal.h"

struct cJSON;

/* The metadata key of the pruning masks (rlkd_prune_masks_json). */
#define RLKD_PRUNE_MASKS_KEY "rlkd_prune_masks"

/* A tensor of a file under its name: a network's, or an extra one. */
typedef struct rlkd_checkpoint_tensor {
    const char *name;
    rlkd_tensor *value;
} rlkd_checkpoint_tensor;

/* One string of the header's __metadata__. */
typedef struct rlkd_checkpoint_metadata {
    const char *key;
    const char *value;
} rlkd_checkpoint_metadata;

/* An open checkpoint: its parsed header and where its data lies. */
typedef struct rlkd_checkpoint_file {
    int fd;
    struct cJSON *header;
    uint64_t data_start, data_length;
} rlkd_checkpoint_file;

/* Prefixes a failure's message with the call and the file ("op: path: ..."). */
rlkd_status rlkd_checkpoint_in_file(rlkd_status status, const char *op,
                                    const char *path);

/*
 * Writes net's parameters and buffers, then `extras`, with "format",
 * "rlkd_version", "rlkd_architecture" and `metadata` (other keys) in the
 * __metadata__, atomically: the file at path appears whole or not at all.
 * net may be NULL (a file of extras only: a search's state); so may it in
 * rlkd_checkpoint_load.
 */
rlkd_status rlkd_checkpoint_save(const rlkd_net *net, const char *path,
                                 const rlkd_checkpoint_tensor *extras,
                                 int extra_count,
                                 const rlkd_checkpoint_metadata *metadata,
                                 int metadata_count);

/* Opens path and reads its header; rlkd_checkpoint_close it even on failure. */
rlkd_status rlkd_checkpoint_open(const char *path, rlkd_checkpoint_file *file);
void rlkd_checkpoint_close(rlkd_checkpoint_file *file);

/* A string of the header's __metadata__, or NULL. */
const char *rlkd_checkpoint_metadata_value(const rlkd_checkpoint_file *file,
                                           const char *key);

/* The file's saved architecture must be net's (RLKD_ERR_FORMAT otherwise,
 * naming the first layer that differs). */
rlkd_status rlkd_checkpoint_check_architecture(const rlkd_checkpoint_file *file,
                                               const rlkd_net *net);

/*
 * Loads the file's tensors into net's parameters and buffers and `extras`:
 * every one of them must be in the file with its shape, and every tensor of
 * the file must be one of them, except that skip_optimizer_state != 0
 * passes over names under RLKD_OPTIMIZER_STATE_PREFIX (a trainer's file
 * read as a network checkpoint). `holder` names the targets in messages
 * ("the network"). Everything is read and checked before the first tensor
 * is written, so a bad file leaves every target as it was.
 */
rlkd_status rlkd_checkpoint_load(const rlkd_checkpoint_file *file,
                                 rlkd_net *net,
                                 const rlkd_checkpoint_tensor *extras,
                                 int extra_count, int skip_optimizer_state,
                                 const char *holder);

#endif
