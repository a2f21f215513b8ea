/*
 * Checkpoints in the safetensors format (https://huggingface.co/docs/safetensors):
 * an 8-byte little-endian header length N, N bytes of JSON header
 *   {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
 *    ..., "__metadata__": {string: string}}
 * then the data, tensors back to back. Saving goes through
 * rlkd_file_write_atomic (a flushed temporary file renamed over the
 * target), so the target is the old file or the whole new one. Loading
 * reads and checks the whole file before it writes any tensor, so a bad
 * file leaves the network (and a trainer's optimiser) as it was. A trainer's file is a network checkpoint with optimiser state
 * under RLKD_OPTIMIZER_STATE_PREFIX, which network loads pass over.
 */
#include "checkpoint.h"

#include "architecture.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* safetensors is little-endian, as is every host rlkd supports: the header
 * length and the tensor data are copied with memcpy, without swapping. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rlkd checkpoints need a little-endian host (safetensors data is copied as is)"
#endif

#define LENGTH_BYTES 8
/* The safetensors reference implementation refuses longer headers too. */
#define MAX_HEADER_BYTES 100000000u
/* Largest single read(); Linux moves at most ~2 GiB per call. */
#define IO_CHUNK_BYTES ((size_t)1 << 30)

typedef enum file_dtype_id {
    FILE_F32, FILE_F64, FILE_F16, FILE_BF16, FILE_I64, FILE_I32,
    FILE_DTYPE_COUNT
} file_dtype_id;

/* The safetensors dtypes rlkd reads, and the tensor dtype each loads into. */
static const struct {
    const char *name;
    size_t size;
    rlkd_dtype loads_into;
} file_dtypes[FILE_DTYPE_COUNT] = {
    [FILE_F32] = {"F32", 4, RLKD_DTYPE_F32},
    [FILE_F64] = {"F64", 8, RLKD_DTYPE_F32},
    [FILE_F16] = {"F16", 2, RLKD_DTYPE_F32},
    [FILE_BF16] = {"BF16", 2, RLKD_DTYPE_F32},
    [FILE_I64] = {"I64", 8, RLKD_DTYPE_I32},
    [FILE_I32] = {"I32", 4, RLKD_DTYPE_I32},
};

rlkd_status rlkd_checkpoint_in_file(rlkd_status status, const char *op,
                                    const char *path)
{
    if (status == RLKD_OK)
        return status;
    char reason[896];
    snprintf(reason, sizeof reason, "%s", rlkd_last_error());
    return rlkd_fail(status, "%s: %s: %s", op, path, reason);
}

static rlkd_status out_of_memory(void)
{
    return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "out of host memory");
}

/* The network's parameters, its buffers, then the extras (*out: free() it). */
static rlkd_status list_tensors(const rlkd_net *net,
                                const rlkd_checkpoint_tensor *extras,
                                int extra_count, rlkd_checkpoint_tensor **out,
                                int *count)
{
    int params = 0, buffers = 0;
    if (net) {
        RLKD_TRY(rlkd_net_param_count(net, &params));
        RLKD_TRY(rlkd_net_buffer_count(net, &buffers));
    }
    const int total = params + buffers + extra_count;
    rlkd_checkpoint_tensor *list = malloc((size_t)(total + 1) * sizeof *list);
    if (!list)
        return out_of_memory();
    rlkd_status status = RLKD_OK;
    for (int i = 0; i < params && status == RLKD_OK; i++)
        status = rlkd_net_param(net, i, &list[i].name, &list[i].value, NULL);
    for (int i = 0; i < buffers && status == RLKD_OK; i++)
        status = rlkd_net_buffer(net, i, &list[params + i].name,
                                 &list[params + i].value);
    if (status != RLKD_OK) {
        free(list);
        return status;
    }
    if (extra_count > 0)
        memcpy(list + params + buffers, extras,
               (size_t)extra_count * sizeof *extras);
    *out = list;
    *count = total;
    return RLKD_OK;
}

/* The dtype a tensor is saved as: int32 buffers (num_batches_tracked) as
 * I64, PyTorch's dtype for them. */
static file_dtype_id saved_dtype(const rlkd_tensor *t)
{
    return t->dtype == RLKD_DTYPE_I32 ? FILE_I64 : FILE_F32;
}

static size_t saved_bytes(const rlkd_tensor *t)
{
    return (size_t)t->numel * file_dtypes[saved_dtype(t)].size;
}

/* ======================================================================== */
/* Saving                                                                   */
/* ======================================================================== */

/* Adds the tensor's header entry at data offset *offset and advances it;
 * 0 when out of memory. */
static int add_header_entry(cJSON *header,
                            const rlkd_checkpoint_tensor *tensor,
                            uint64_t *offset)
{
    const rlkd_tensor *t = tensor->value;
    cJSON *entry = cJSON_AddObjectToObject(header, tensor->name);
    int ok = entry && cJSON_AddStringToObject(
                          entry, "dtype", file_dtypes[saved_dtype(t)].name);
    cJSON *shape = ok ? cJSON_AddArrayToObject(entry, "shape") : NULL;
    ok = shape != NULL;
    for (int d = 0; ok && d < t->ndim; d++)
        ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
    const double offsets[2] = {(double)*offset,
                               (double)(*offset + saved_bytes(t))};
    cJSON *data_offsets = ok ? cJSON_CreateDoubleArray(offsets, 2) : NULL;
    ok = data_offsets && cJSON_AddItemToObject(entry, "data_offsets",
                                               data_offsets);
    if (!ok && data_offsets)
        cJSON_Delete(data_offsets);
    *offset += saved_bytes(t);
    return ok;
}

/* The header JSON padded with spaces to a multiple of 8 bytes, so that the
 * data after the 8-byte length starts 8-byte aligned (*out: free() it). */
static rlkd_status build_header(const rlkd_net *net,
                                const rlkd_checkpoint_tensor *tensors,
                                int count,
                                const rlkd_checkpoint_metadata *extra_metadata,
                                int extra_metadata_count, char **out,
                                size_t *length)
{
    char *architecture = NULL, *masks = NULL;
    if (net) {
        RLKD_TRY(rlkd_prune_masks_json(net, &masks));
        rlkd_status status = rlkd_architecture_to_json(net, &architecture);
        if (status != RLKD_OK) {
            cJSON_free(masks);
            return status;
        }
    }
    cJSON *header = cJSON_CreateObject();
    int ok = header != NULL;
    uint64_t offset = 0;
    for (int i = 0; ok && i < count; i++)
        ok = add_header_entry(header, &tensors[i], &offset);
    cJSON *metadata = ok ? cJSON_AddObjectToObject(header, "__metadata__")
                         : NULL;
    ok = metadata &&
         cJSON_AddStringToObject(metadata, "format", "pt") &&
         cJSON_AddStringToObject(metadata, "rlkd_version",
                                 rlkd_version_string()) &&
         (!architecture || cJSON_AddStringToObject(
                               metadata, "rlkd_architecture", architecture)) &&
         (!masks || cJSON_AddStringToObject(metadata, RLKD_PRUNE_MASKS_KEY,
                                            masks));
    for (int i = 0; ok && i < extra_metadata_count; i++)
        ok = cJSON_AddStringToObject(metadata, extra_metadata[i].key,
                                     extra_metadata[i].value) != NULL;
    char *json = ok ? cJSON_PrintUnformatted(header) : NULL;
    cJSON_Delete(header);
    cJSON_free(architecture);
    cJSON_free(masks);
    if (!json)
        return out_of_memory();
    const size_t json_length = strlen(json);
    const size_t padded = (json_length + 7) / 8 * 8;
    char *text = malloc(padded);
    if (text) {
        memcpy(text, json, json_length);
        memset(text + json_length, ' ', padded - json_length);
    }
    cJSON_free(json);
    if (!text)
        return out_of_memory();
    *out = text;
    *length = padded;
    return RLKD_OK;
}

/* Writes each tensor's data, read from its device, in header order. */
static rlkd_status write_tensor_data(int fd,
                                     const rlkd_checkpoint_tensor *tensors,
                                     int count, const char *temp_path)
{
    size_t largest = 1;
    for (int i = 0; i < count; i++)
        if (saved_bytes(tensors[i].value) > largest)
            largest = saved_bytes(tensors[i].value);
    unsigned char *host = malloc(largest);
    if (!host)
        return out_of_memory();
    rlkd_status status = RLKD_OK;
    for (int i = 0; i < count && status == RLKD_OK; i++) {
        const rlkd_tensor *t = tensors[i].value;
        const size_t numel = (size_t)t->numel;
        if (t->dtype == RLKD_DTYPE_F32) {
            status = rlkd_tensor_read(t, (float *)host, numel);
        } else {
            int32_t *narrow = malloc(numel * sizeof *narrow);
            status = narrow ? rlkd_tensor_read_i32(t, narrow, numel)
                            : out_of_memory();
            for (size_t k = 0; status == RLKD_OK && k < numel; k++) {
                const int64_t wide = narrow[k];
                memcpy(host + k * sizeof wide, &wide, sizeof wide);
            }
            free(narrow);
        }
        if (status == RLKD_OK)
            status = rlkd_file_write_all(fd, host, saved_bytes(t), temp_path);
    }
    free(host);
    return status;
}

typedef struct save_job {
    const char *header;
    size_t header_length;
    const rlkd_checkpoint_tensor *tensors;
    int count;
} save_job;

/* The file's content: the header's length, the header, the data. */
static rlkd_status write_file(int fd, const char *temp_path, void *user)
{
    const save_job *job = user;
    const uint64_t length = job->header_length;
    RLKD_TRY(rlkd_file_write_all(fd, &length, sizeof length, temp_path));
    RLKD_TRY(rlkd_file_write_all(fd, job->header, job->header_length,
                                 temp_path));
    return write_tensor_data(fd, job->tensors, job->count, temp_path);
}

rlkd_status rlkd_checkpoint_save(const rlkd_net *net, const char *path,
                                 const rlkd_checkpoint_tensor *extras,
                                 int extra_count,
                                 const rlkd_checkpoint_metadata *metadata,
                                 int metadata_count)
{
    rlkd_checkpoint_tensor *tensors;
    int count;
    RLKD_TRY(list_tensors(net, extras, extra_count, &tensors, &count));
    char *header = NULL;
    size_t header_length = 0;
    rlkd_status status = build_header(net, tensors, count, metadata,
                                      metadata_count, &header, &header_length);
    if (status == RLKD_OK) {
        save_job job = {header, header_length, tensors, count};
        status = rlkd_file_write_atomic(path, write_file, &job);
    }
    free(header);
    free(tensors);
    return status;
}

rlkd_status rlkd_net_save(const rlkd_net *net, const char *path)
{
    static const char op[] = "rlkd_net_save";
    if (!net)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: net is NULL", op);
    if (!path)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: path is NULL", op);
    return rlkd_checkpoint_in_file(
        rlkd_checkpoint_save(net, path, NULL, 0, NULL, 0), op, path);
}

/* ======================================================================== */
/* Loading                                                                  */
/* ======================================================================== */

/* A tensor of the file, matched with its target and checked. */
typedef struct planned_tensor {
    const char *name;                     /* as the file names it */
    const rlkd_checkpoint_tensor *target; /* NULL: skipped */
    file_dtype_id dtype;
    uint64_t begin, end;
} planned_tensor;

/* Reads `size` bytes at `offset`. */
static rlkd_status read_at(int fd, void *data, size_t size, uint64_t offset)
{
    char *p = data;
    while (size > 0) {
        const ssize_t got = pread(fd, p, size < IO_CHUNK_BYTES ? size
                                                              : IO_CHUNK_BYTES,
                                  (off_t)offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return rlkd_fail_io(errno, "cannot read");
        if (got == 0)
            return rlkd_fail(RLKD_ERR_IO, "the file ended early (did it change "
                             "while being read?)");
        p += got;
        size -= (size_t)got;
        offset += (uint64_t)got;
    }
    return RLKD_OK;
}

static int is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* safetensors metadata maps strings to strings. */
static rlkd_status check_metadata(const cJSON *header)
{
    const cJSON *metadata =
        cJSON_GetObjectItemCaseSensitive(header, "__metadata__");
    if (!metadata)
        return RLKD_OK;
    if (!cJSON_IsObject(metadata))
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "the header's __metadata__ is not an object");
    for (const cJSON *item = metadata->child; item; item = item->next)
        if (!cJSON_IsString(item))
            return rlkd_fail(RLKD_ERR_FORMAT,
                             "__metadata__ \"%s\" is not a string",
                             item->string);
    return RLKD_OK;
}

/* Reads the header length and parses the header JSON. */
static rlkd_status read_header(rlkd_checkpoint_file *file, uint64_t file_size)
{
    if (file_size < LENGTH_BYTES)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "the file is %llu bytes, too short for the 8-byte "
                         "header length of a safetensors file",
                         (unsigned long long)file_size);
    uint64_t length;
    RLKD_TRY(read_at(file->fd, &length, sizeof length, 0));
    if (length > MAX_HEADER_BYTES)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "the header length %llu is oversized (at most %u "
                         "bytes)", (unsigned long long)length,
                         MAX_HEADER_BYTES);
    if (length < 2 || length > file_size - LENGTH_BYTES)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "the header length %llu does not fit the file's %llu "
                         "bytes", (unsigned long long)length,
                         (unsigned long long)file_size);
    char *text = malloc((size_t)length);
    if (!text)
        return out_of_memory();
    rlkd_status status = read_at(file->fd, text, (size_t)length, LENGTH_BYTES);
    const char *end = NULL;
    cJSON *header = status == RLKD_OK
                        ? cJSON_ParseWithLengthOpts(text, (size_t)length, &end, 0)
                        : NULL;
    if (status == RLKD_OK && !header)
        status = rlkd_fail(RLKD_ERR_FORMAT,
                           "the header is not valid JSON (at byte %td of %llu)",
                           end ? end - text : (ptrdiff_t)0,
                           (unsigned long long)length);
    /* The JSON may be followed by padding (spaces), and nothing else. */
    for (const char *p = end; status == RLKD_OK && p < text + length; p++)
        if (!is_json_space(*p))
            status = rlkd_fail(RLKD_ERR_FORMAT,
                               "the header has bytes after its JSON (at byte "
                               "%td)", p - text);
    if (status == RLKD_OK && !cJSON_IsObject(header))
        status = rlkd_fail(RLKD_ERR_FORMAT, "the header is not a JSON object");
    if (status == RLKD_OK)
        status = check_metadata(header);
    free(text);
    if (status != RLKD_OK) {
        cJSON_Delete(header);
        return status;
    }
    file->header = header;
    file->data_start = LENGTH_BYTES + length;
    file->data_length = file_size - LENGTH_BYTES - length;
    return RLKD_OK;
}

void rlkd_checkpoint_close(rlkd_checkpoint_file *file)
{
    cJSON_Delete(file->header);
    if (file->fd >= 0)
        close(file->fd);
}

rlkd_status rlkd_checkpoint_open(const char *path, rlkd_checkpoint_file *file)
{
    file->header = NULL;
    file->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (file->fd < 0)
        return rlkd_fail_io(errno, "cannot open");
    struct stat info;
    if (fstat(file->fd, &info) != 0)
        return rlkd_fail_io(errno, "cannot stat");
    if (!S_ISREG(info.st_mode))
        return rlkd_fail(RLKD_ERR_IO, "not a regular file");
    return read_header(file, (uint64_t)info.st_size);
}

const char *rlkd_checkpoint_metadata_value(const rlkd_checkpoint_file *file,
                                           const char *key)
{
    const cJSON *metadata =
        cJSON_GetObjectItemCaseSensitive(file->header, "__metadata__");
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(metadata, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* 1 and *value when item is an integral number in [0, 2^53] (exact in a
 * double, and beyond any file size). */
static int json_size(const cJSON *item, uint64_t *value)
{
    if (!cJSON_IsNumber(item))
        return 0;
    const double d = item->valuedouble;
    if (!(d >= 0.0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d)
        return 0;
    *value = (uint64_t)d;
    return 1;
}

/* "[2,3]" of a JSON shape array, for messages. */
static void format_file_shape(char *buf, size_t size, const cJSON *shape)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (const cJSON *d = shape->child; d && used < size; d = d->next)
        used += (size_t)snprintf(buf + used, size - used, "%s%.0f",
                                 d == shape->child ? "" : ",", d->valuedouble);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* The number of values of a file's shape (its dimensions checked). */
static rlkd_status file_numel(const char *name, const cJSON *shape,
                              uint64_t *numel)
{
    if (!cJSON_IsArray(shape))
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "tensor \"%s\": \"shape\" is not an array", name);
    uint64_t product = 1;
    int ndim = 0;
    for (const cJSON *d = shape->child; d; d = d->next, ndim++) {
        uint64_t size;
        if (!json_size(d, &size))
            return rlkd_fail(RLKD_ERR_FORMAT,
                             "tensor \"%s\": shape dimension %d is not a "
                             "non-negative integer", name, ndim);
        /* Bounded so that the byte count of the widest dtype fits too. */
        if (size != 0 && product > UINT64_MAX / 8 / size)
            return rlkd_fail(RLKD_ERR_FORMAT,
                             "tensor \"%s\": the shape holds more values "
                             "than any file could", name);
        product *= size;
    }
    *numel = product;
    return RLKD_OK;
}

/* The file's shape (checked by file_numel) must be the target's; a
 * one-element tensor may also be a scalar [], as PyTorch saves
 * num_batches_tracked. */
static rlkd_status check_shape(const char *name, const cJSON *shape,
                               const rlkd_tensor *target, const char *holder)
{
    int ndim = 0, same = 1;
    for (const cJSON *d = shape->child; d; d = d->next, ndim++)
        same = same && ndim < target->ndim &&
               d->valuedouble == (double)target->shape[ndim];
    const int scalar_for_one = ndim == 0 && target->ndim == 1 &&
                               target->shape[0] == 1;
    if ((same && ndim == target->ndim) || scalar_for_one)
        return RLKD_OK;
    char file_shape[96], target_shape[96];
    format_file_shape(file_shape, sizeof file_shape, shape);
    rlkd_format_shape(target_shape, sizeof target_shape, target);
    return rlkd_fail(RLKD_ERR_SHAPE,
                     "tensor \"%s\" is %s in the file but %s in %s",
                     name, file_shape, target_shape, holder);
}

/* Checks one header entry (against its target, unless that is NULL: a
 * skipped tensor must still be well formed, as the layout covers it) and
 * fills *plan. */
static rlkd_status plan_entry(const cJSON *entry,
                              const rlkd_checkpoint_tensor *target,
                              const char *holder, uint64_t data_length,
                              planned_tensor *plan)
{
    const char *name = entry->string;
    if (!cJSON_IsObject(entry))
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "tensor \"%s\": its header entry is not an object",
                         name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    if (!cJSON_IsString(dtype))
        return rlkd_fail(RLKD_ERR_FORMAT, "tensor \"%s\" has no dtype string",
                         name);
    int id = 0;
    while (id < FILE_DTYPE_COUNT &&
           strcmp(file_dtypes[id].name, dtype->valuestring) != 0)
        id++;
    if (id == FILE_DTYPE_COUNT)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "tensor \"%s\" has dtype \"%.32s\", which rlkd does "
                         "not read (F32, F64, F16, BF16; I64, I32 for integer "
                         "buffers)", name, dtype->valuestring);
    if (target && file_dtypes[id].loads_into != target->value->dtype)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "tensor \"%s\" is %s in the file, but %s holds %s",
                         name, file_dtypes[id].name, holder,
                         target->value->dtype == RLKD_DTYPE_I32 ? "integers"
                                                                : "floats");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    uint64_t numel = 0;
    RLKD_TRY(file_numel(name, shape, &numel));
    if (target)
        RLKD_TRY(check_shape(name, shape, target->value, holder));
    const cJSON *offsets =
        cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    uint64_t begin, end;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !json_size(cJSON_GetArrayItem(offsets, 0), &begin) ||
        !json_size(cJSON_GetArrayItem(offsets, 1), &end) || end < begin)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "tensor \"%s\": \"data_offsets\" is not [begin, end] "
                         "with 0 <= begin <= end", name);
    const uint64_t bytes = numel * file_dtypes[id].size;
    if (end - begin != bytes)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "tensor \"%s\": data_offsets [%llu, %llu] hold %llu "
                         "bytes, but %llu %s values take %llu", name,
                         (unsigned long long)begin, (unsigned long long)end,
                         (unsigned long long)(end - begin),
                         (unsigned long long)numel, file_dtypes[id].name,
                         (unsigned long long)bytes);
    if (end > data_length)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "tensor \"%s\": data_offsets [%llu, %llu] run past "
                         "the end of the data (%llu bytes; is the file "
                         "truncated?)", name, (unsigned long long)begin,
                         (unsigned long long)end,
                         (unsigned long long)data_length);
    plan->name = name;
    plan->target = target;
    plan->dtype = (file_dtype_id)id;
    plan->begin = begin;
    plan->end = end;
    return RLKD_OK;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(((const rlkd_checkpoint_tensor *)a)->name,
                  ((const rlkd_checkpoint_tensor *)b)->name);
}

static int compare_begins(const void *a, const void *b)
{
    const uint64_t x = ((const planned_tensor *)a)->begin;
    const uint64_t y = ((const planned_tensor *)b)->begin;
    return (x > y) - (x < y);
}

/* safetensors lays the tensors out back to back: sorted by offset, they
 * must cover the data exactly. */
static rlkd_status check_layout(planned_tensor *plan, int count,
                                uint64_t data_length)
{
    qsort(plan, (size_t)count, sizeof *plan, compare_begins);
    uint64_t covered = 0;
    for (int i = 0; i < count; i++) {
        if (plan[i].begin < covered)
            return rlkd_fail(RLKD_ERR_FORMAT,
                             "tensors \"%s\" and \"%s\" overlap (data_offsets "
                             "[%llu, %llu] and [%llu, %llu])",
                             plan[i - 1].name, plan[i].name,
                             (unsigned long long)plan[i - 1].begin,
                             (unsigned long long)plan[i - 1].end,
                             (unsigned long long)plan[i].begin,
                             (unsigned long long)plan[i].end);
        if (plan[i].begin > covered)
            return rlkd_fail(RLKD_ERR_FORMAT,
                             "the data has a hole: bytes [%llu, %llu) before "
                             "tensor \"%s\" belong to no tensor",
                             (unsigned long long)covered,
                             (unsigned long long)plan[i].begin,
                             plan[i].name);
        covered = plan[i].end;
    }
    if (covered != data_length)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "the data has %llu bytes after the last tensor (the "
                         "tensors cover %llu of %llu bytes)",
                         (unsigned long long)(data_length - covered),
                         (unsigned long long)covered,
                         (unsigned long long)data_length);
    return RLKD_OK;
}

static int is_optimizer_state(const char *name)
{
    return strncmp(name, RLKD_OPTIMIZER_STATE_PREFIX,
                   strlen(RLKD_OPTIMIZER_STATE_PREFIX)) == 0;
}

/* Matches every header entry with a target (by_name, sorted by name) and
 * checks it; every target must be matched exactly once. *planned counts
 * the entries planned, skipped ones included. */
static rlkd_status plan_load(const cJSON *header,
                             const rlkd_checkpoint_tensor *by_name, int count,
                             uint64_t data_length, int skip_optimizer_state,
                             const char *holder, planned_tensor *plan,
                             int *planned)
{
    char *matched = calloc((size_t)count + 1, 1);
    if (!matched)
        return out_of_memory();
    rlkd_status status = RLKD_OK;
    *planned = 0;
    for (const cJSON *entry = header->child; entry && status == RLKD_OK;
         entry = entry->next) {
        if (strcmp(entry->string, "__metadata__") == 0)
            continue;
        const rlkd_checkpoint_tensor key = {.name = entry->string};
        const rlkd_checkpoint_tensor *target =
            bsearch(&key, by_name, (size_t)count, sizeof *by_name,
                    compare_names);
        const int skipped =
            !target && skip_optimizer_state && is_optimizer_state(key.name);
        if (!target && !skipped)
            status = rlkd_fail(RLKD_ERR_FORMAT,
                               "the file has a tensor \"%s\" that %s does "
                               "not have", entry->string, holder);
        else if (target && matched[target - by_name])
            status = rlkd_fail(RLKD_ERR_FORMAT,
                               "tensor \"%s\" appears twice in the header",
                               entry->string);
        else
            status = plan_entry(entry, target, holder, data_length,
                                &plan[*planned]);
        if (status == RLKD_OK) {
            if (target)
                matched[target - by_name] = 1;
            (*planned)++;
        }
    }
    for (int i = 0; i < count && status == RLKD_OK; i++)
        if (!matched[i])
            status = rlkd_fail(RLKD_ERR_FORMAT,
                               "%s's tensor \"%s\" is not in the file", holder,
                               by_name[i].name);
    free(matched);
    if (status == RLKD_OK)
        status = check_layout(plan, *planned, data_length);
    return status;
}

/* I64 values must fit the int32 buffers they load into. */
static rlkd_status check_integers(const planned_tensor *plan, int count,
                                  const unsigned char *data)
{
    for (int i = 0; i < count; i++) {
        if (!plan[i].target || plan[i].dtype != FILE_I64)
            continue;
        const int64_t numel = plan[i].target->value->numel;
        for (int64_t k = 0; k < numel; k++) {
            int64_t value;
            memcpy(&value, data + plan[i].begin + (size_t)k * sizeof value,
                   sizeof value);
            if (value < INT32_MIN || value > INT32_MAX)
                return rlkd_fail(RLKD_ERR_FORMAT,
                                 "tensor \"%s\": value %lld at index %lld "
                                 "does not fit int32",
                                 plan[i].target->name, (long long)value,
                                 (long long)k);
        }
    }
    return RLKD_OK;
}

/* IEEE half-precision bits to float (exact). */
static float half_to_float(uint16_t half)
{
    const uint32_t sign = (uint32_t)(half >> 15) << 31;
    const uint32_t exponent = (half >> 10) & 0x1fu;
    const uint32_t mantissa = half & 0x3ffu;
    uint32_t bits;
    if (exponent == 0x1f) {        /* infinity or NaN */
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent != 0) {    /* normal: rebias 15 -> 127 */
        bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
    } else {                       /* zero or subnormal: mantissa * 2^-24 */
        const float magnitude = (float)mantissa * 0x1p-24f;
        return sign ? -magnitude : magnitude;
    }
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/* Converts `count` values of a file dtype at src to float32 or int32 (as
 * the dtype loads into) at dst. */
static void convert(void *dst, const unsigned char *src, file_dtype_id dtype,
                    size_t count)
{
    float *f = dst;
    int32_t *i32 = dst;
    uint16_t u16;
    uint32_t u32;
    double f64;
    int64_t i64;
    switch (dtype) {
    case FILE_F32:
    case FILE_I32:
        memcpy(dst, src, count * 4);
        break;
    case FILE_F64:
        for (size_t k = 0; k < count; k++) {
            memcpy(&f64, src + k * 8, 8);
            f[k] = (float)f64;
        }
        break;
    case FILE_F16:
        for (size_t k = 0; k < count; k++) {
            memcpy(&u16, src + k * 2, 2);
            f[k] = half_to_float(u16);
        }
        break;
    case FILE_BF16: /* the top half of a float32 */
        for (size_t k = 0; k < count; k++) {
            memcpy(&u16, src + k * 2, 2);
            u32 = (uint32_t)u16 << 16;
            memcpy(&f[k], &u32, 4);
        }
        break;
    case FILE_I64: /* values checked to fit by check_integers */
        for (size_t k = 0; k < count; k++) {
            memcpy(&i64, src + k * 8, 8);
            i32[k] = (int32_t)i64;
        }
        break;
    case FILE_DTYPE_COUNT:
        break;
    }
}

/* 4-byte data already in the tensor's format is written in place. */
static int writes_in_place(const planned_tensor *plan, const unsigned char *data)
{
    return file_dtypes[plan->dtype].size == 4 &&
           (uintptr_t)(data + plan->begin) % 4 == 0;
}

/* Writes each planned tensor from the data read (skipped ones aside).
 * Everything was checked and allocated before the first write, so only a
 * device failure can stop it part-way. */
static rlkd_status write_tensors(const planned_tensor *plan, int count,
                                 const unsigned char *data)
{
    size_t largest = 1;
    for (int i = 0; i < count; i++)
        if (plan[i].target && !writes_in_place(&plan[i], data) &&
            (size_t)plan[i].target->value->numel * 4 > largest)
            largest = (size_t)plan[i].target->value->numel * 4;
    void *converted = malloc(largest);
    if (!converted)
        return out_of_memory();
    rlkd_status status = RLKD_OK;
    for (int i = 0; i < count && status == RLKD_OK; i++) {
        if (!plan[i].target)
            continue;
        rlkd_tensor *t = plan[i].target->value;
        const size_t numel = (size_t)t->numel;
        const void *values = data + plan[i].begin;
        if (!writes_in_place(&plan[i], data)) {
            convert(converted, data + plan[i].begin, plan[i].dtype, numel);
            values = converted;
        }
        status = t->dtype == RLKD_DTYPE_F32
                     ? rlkd_tensor_write(t, values, numel)
                     : rlkd_tensor_write_i32(t, values, numel);
    }
    free(converted);
    return status;
}

rlkd_status rlkd_checkpoint_load(const rlkd_checkpoint_file *file,
                                 rlkd_net *net,
                                 const rlkd_checkpoint_tensor *extras,
                                 int extra_count, int skip_optimizer_state,
                                 const char *holder)
{
    rlkd_checkpoint_tensor *by_name;
    int count;
    const char *masks =
        rlkd_checkpoint_metadata_value(file, RLKD_PRUNE_MASKS_KEY);
    if (net)
        RLKD_TRY(rlkd_prune_masks_check(net, masks));
    RLKD_TRY(list_tensors(net, extras, extra_count, &by_name, &count));
    qsort(by_name, (size_t)count, sizeof *by_name, compare_names);
    const int entries = cJSON_GetArraySize(file->header);
    planned_tensor *plan = malloc((size_t)(entries + 1) * sizeof *plan);
    int planned = 0;
    rlkd_status status =
        plan ? plan_load(file->header, by_name, count, file->data_length,
                         skip_optimizer_state, holder, plan, &planned)
             : out_of_memory();
    unsigned char *data = NULL;
    if (status == RLKD_OK) {
        data = malloc(file->data_length ? (size_t)file->data_length : 1);
        status = data ? read_at(file->fd, data, (size_t)file->data_length,
                                file->data_start)
                      : out_of_memory();
    }
    if (status == RLKD_OK)
        status = check_integers(plan, planned, data);
    if (status == RLKD_OK)
        status = write_tensors(plan, planned, data);
    if (status == RLKD_OK && net)
        status = rlkd_prune_masks_apply(net, masks);
    free(data);
    free(plan);
    free(by_name);
    return status;
}

/* A string field of a saved layer, for messages. */
static const char *layer_field(const cJSON *layer, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(layer, key);
    return cJSON_IsString(item) ? item->valuestring : "?";
}

/* Why two architectures (that differ) differ: the first layer that does,
 * else the layer count, else the rest (input shape, version). */
static rlkd_status architecture_difference(const cJSON *saved,
                                           const cJSON *own)
{
    const cJSON *saved_layers =
        cJSON_GetObjectItemCaseSensitive(saved, "layers");
    const cJSON *own_layers = cJSON_GetObjectItemCaseSensitive(own, "layers");
    const cJSON *a = cJSON_IsArray(saved_layers) ? saved_layers->child : NULL;
    const cJSON *b = own_layers->child;
    int index = 0;
    for (; a && b && cJSON_Compare(a, b, 1); a = a->next, b = b->next)
        index++;
    if (a && b)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "it was saved from another architecture: its layer "
                         "%d is %s \"%s\", this network's is %s \"%s\" (or "
                         "their settings differ)", index,
                         layer_field(a, "kind"), layer_field(a, "name"),
                         layer_field(b, "kind"), layer_field(b, "name"));
    if (a || b)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "it was saved from another architecture: a network "
                         "of %d layers, this one has %d",
                         cJSON_GetArraySize(saved_layers),
                         cJSON_GetArraySize(own_layers));
    return rlkd_fail(RLKD_ERR_FORMAT,
                     "it was saved from another architecture (the input "
                     "shape or the architecture version differs)");
}

rlkd_status rlkd_checkpoint_check_architecture(const rlkd_checkpoint_file *file,
                                               const rlkd_net *net)
{
    const char *saved_text =
        rlkd_checkpoint_metadata_value(file, "rlkd_architecture");
    if (!saved_text)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "the header has no __metadata__.rlkd_architecture");
    char *own_text;
    RLKD_TRY(rlkd_architecture_to_json(net, &own_text));
    cJSON *saved = cJSON_Parse(saved_text);
    cJSON *own = cJSON_Parse(own_text);
    cJSON_free(own_text);
    rlkd_status status = RLKD_OK;
    if (!own)
        status = out_of_memory();
    else if (!saved)
        status = rlkd_fail(RLKD_ERR_FORMAT,
                           "the saved architecture is not valid JSON");
    else if (!cJSON_Compare(saved, own, 1))
        status = architecture_difference(saved, own);
    cJSON_Delete(saved);
    cJSON_Delete(own);
    return status;
}

rlkd_status rlkd_net_load_weights(rlkd_net *net, const char *path)
{
    static const char op[] = "rlkd_net_load_weights";
    if (!net)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: net is NULL", op);
    if (!path)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: path is NULL", op);
    rlkd_checkpoint_file file;
    rlkd_status status = rlkd_checkpoint_open(path, &file);
    if (status == RLKD_OK)
        status = rlkd_checkpoint_load(&file, net, NULL, 0, 1, "the network");
    rlkd_checkpoint_close(&file);
    return rlkd_checkpoint_in_file(status, op, path);
}

rlkd_status rlkd_net_load(rlkd_context *ctx, const char *path, rlkd_net **out)
{
    static const char op[] = "rlkd_net_load";
    if (!out)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: out is NULL", op);
    *out = NULL;
    RLKD_TRY(rlkd_check_context(ctx, op));
    if (!path)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT, "%s: path is NULL", op);
    rlkd_checkpoint_file file;
    rlkd_status status = rlkd_checkpoint_open(path, &file);
    const char *architecture =
        status == RLKD_OK
            ? rlkd_checkpoint_metadata_value(&file, "rlkd_architecture")
            : NULL;
    if (status == RLKD_OK && !architecture)
        status = rlkd_fail(RLKD_ERR_FORMAT,
                           "the header has no __metadata__.rlkd_architecture "
                           "(not saved by rlkd_net_save?): build the network "
                           "(e.g. rlkd_zoo_create) and use "
                           "rlkd_net_load_weights");
    rlkd_net *net = NULL;
    /* Every value takes 2 bytes of data at least (F16, BF16). */
    if (status == RLKD_OK)
        status = rlkd_architecture_build(
            ctx, architecture, (int64_t)(file.data_length / 2), &net);
    if (status == RLKD_OK)
        status = rlkd_checkpoint_load(&file, net, NULL, 0, 1, "the network");
    rlkd_checkpoint_close(&file);
    if (status != RLKD_OK) {
        rlkd_net_destroy(net);
        return rlkd_checkpoint_in_file(status, op, path);
    }
    *out = net;
    return RLKD_OK;
}
