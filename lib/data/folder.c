/*
 * File-backed data sets: an ImageFolder tree or a list file becomes paths
 * and labels (no pixels: ImageNet's 1.28 M images would take ~140 GB
 * decoded). Bad files are found here, as far as options->verify reads, so
 * that the loader's batches are a function of the data set and the seed
 * alone.
 */
#include "data_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Every field, verify the last, is read. */
#define FOLDER_OPTIONS_SIZE_READ \
    (offsetof(rlkd_folder_options, verify) + \
     sizeof ((rlkd_folder_options *)0)->verify)
/* The longest list file line read. */
#define LINE_BYTES 8192

static const char *const IMAGE_EXTENSIONS[] = {".jpg", ".jpeg", ".png"};

void rlkd_folder_options_init(rlkd_folder_options *options)
{
    if (!options)
        return;
    memset(options, 0, sizeof *options);
    options->struct_size = sizeof *options;
    options->bad_files = RLKD_BAD_FILES_SKIP;
    options->verify = RLKD_VERIFY_HEADER;
}

static rlkd_status check_options(const char *op,
                                 const rlkd_folder_options *given,
                                 rlkd_folder_options *options)
{
    rlkd_folder_options_init(options);
    if (!given)
        return RLKD_OK;
    RLKD_TRY(rlkd_expect_struct_size(op, "options", given->struct_size,
                                     FOLDER_OPTIONS_SIZE_READ,
                                     "rlkd_folder_options_init"));
    if (given->bad_files != RLKD_BAD_FILES_SKIP &&
        given->bad_files != RLKD_BAD_FILES_FAIL)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->bad_files is %d, not RLKD_BAD_FILES_SKIP "
                         "or RLKD_BAD_FILES_FAIL", op, (int)given->bad_files);
    if (given->verify < RLKD_VERIFY_NONE || given->verify > RLKD_VERIFY_DECODE)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: options->verify is %d, not an rlkd_verify", op,
                         (int)given->verify);
    options->bad_files = given->bad_files;
    options->verify = given->verify;
    return RLKD_OK;
}

/* ---- growing arrays of strings ---- */

typedef struct string_list {
    char **items;
    int64_t count, capacity;
} string_list;

static void string_list_free(string_list *list)
{
    for (int64_t i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = list->capacity = 0;
}

/* Appends `text` (copied); 0 when out of memory. */
static int string_list_add(string_list *list, const char *text)
{
    if (list->count == list->capacity) {
        int64_t capacity = list->capacity ? 2 * list->capacity : 16;
        char **items = realloc(list->items, (size_t)capacity * sizeof *items);
        if (!items)
            return 0;
        list->items = items;
        list->capacity = capacity;
    }
    char *copy = malloc(strlen(text) + 1);
    if (!copy)
        return 0;
    strcpy(copy, text);
    list->items[list->count++] = copy;
    return 1;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void string_list_sort(string_list *list)
{
    if (list->count > 1)
        qsort(list->items, (size_t)list->count, sizeof *list->items,
              compare_strings);
}

/* "a/b" in a new string, or NULL when out of memory. */
static char *join_path(const char *a, const char *b)
{
    size_t bytes = strlen(a) + 1 + strlen(b) + 1;
    char *path = malloc(bytes);
    if (path)
        snprintf(path, bytes, "%s/%s", a, b);
    return path;
}

/* ---- what an open builds ---- */

typedef struct opening {
    const char *op;
    rlkd_folder_options options;
    string_list paths, bad_paths, bad_reasons;
    int32_t *labels;
    int64_t label_capacity;
} opening;

static void opening_free(opening *o)
{
    string_list_free(&o->paths);
    string_list_free(&o->bad_paths);
    string_list_free(&o->bad_reasons);
    free(o->labels);
}

static rlkd_status out_of_memory(const opening *o)
{
    return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY, "%s: out of memory for the file list",
                     o->op);
}

/* A bad file: fails the open (FAIL) or is recorded (SKIP). */
static rlkd_status report_bad(opening *o, rlkd_status status, const char *path,
                              const char *reason)
{
    if (o->options.bad_files == RLKD_BAD_FILES_FAIL)
        return rlkd_fail(status, "%s: %s: %s", o->op, path, reason);
    if (!string_list_add(&o->bad_paths, path) ||
        !string_list_add(&o->bad_reasons, reason))
        return out_of_memory(o);
    return RLKD_OK;
}

/* Checks one image file as far as options.verify asks; adds it when good. */
static rlkd_status add_image(opening *o, const char *path, int32_t label)
{
    if (o->options.verify != RLKD_VERIFY_NONE) {
        rlkd_rgb_image image;
        char reason[RLKD_REASON_BYTES];
        rlkd_status status = rlkd_image_decode_file(
            path, o->options.verify == RLKD_VERIFY_HEADER, &image, reason);
        free(image.pixels);
        if (status == RLKD_ERR_OUT_OF_MEMORY)
            return rlkd_fail(status, "%s: %s: %s", o->op, path, reason);
        if (status != RLKD_OK)
            return report_bad(o, status, path, reason);
    }
    if (o->paths.count == o->label_capacity) {
        int64_t capacity = o->label_capacity ? 2 * o->label_capacity : 256;
        int32_t *labels = realloc(o->labels, (size_t)capacity * sizeof *labels);
        if (!labels)
            return out_of_memory(o);
        o->labels = labels;
        o->label_capacity = capacity;
    }
    if (!string_list_add(&o->paths, path))
        return out_of_memory(o);
    o->labels[o->paths.count - 1] = label;
    return RLKD_OK;
}

/* The data set of what `o` gathered (which it then owns). */
static rlkd_status finish(opening *o, int classes, string_list *class_names,
                          const char *where, rlkd_dataset **out)
{
    if (o->paths.count == 0)
        return rlkd_fail(RLKD_ERR_FORMAT, "%s: %s: no readable JPEG or PNG image "
                         "(%lld bad files)", o->op, where,
                         (long long)o->bad_paths.count);
    rlkd_dataset *dataset = calloc(1, sizeof *dataset);
    if (!dataset)
        return out_of_memory(o);
    dataset->count = o->paths.count;
    dataset->channels = 3;
    dataset->classes = classes;
    dataset->labels = o->labels;
    dataset->paths = o->paths.items;
    dataset->class_names = class_names ? class_names->items : NULL;
    dataset->bad_files = o->options.bad_files;
    dataset->verified = o->options.verify;
    dataset->bad_count = o->bad_paths.count;
    dataset->bad_paths = o->bad_paths.items;
    dataset->bad_reasons = o->bad_reasons.items;
    o->labels = NULL;
    o->paths = o->bad_paths = o->bad_reasons = (string_list){0};
    if (class_names)
        *class_names = (string_list){0};
    *out = dataset;
    return RLKD_OK;
}

void rlkd_dataset_free_files(rlkd_dataset *dataset)
{
    string_list lists[4] = {{dataset->paths, dataset->paths ? dataset->count : 0, 0},
                            {dataset->class_names,
                             dataset->class_names ? dataset->classes : 0, 0},
                            {dataset->bad_paths, dataset->bad_count, 0},
                            {dataset->bad_reasons, dataset->bad_count, 0}};
    for (int i = 0; i < 4; i++)
        string_list_free(&lists[i]);
}

static int is_image_name(const char *name)
{
    size_t length = strlen(name);
    for (size_t i = 0; i < sizeof IMAGE_EXTENSIONS / sizeof *IMAGE_EXTENSIONS;
         i++) {
        size_t extension = strlen(IMAGE_EXTENSIONS[i]);
        if (length > extension &&
            strcasecmp(name + length - extension, IMAGE_EXTENSIONS[i]) == 0)
            return 1;
    }
    return 0;
}

/* Whether path is a folder (want_folder) or a regular file, links followed. */
static int is_kind(const char *path, int want_folder)
{
    struct stat info;
    if (stat(path, &info) != 0)
        return 0;
    return want_folder ? S_ISDIR(info.st_mode) : S_ISREG(info.st_mode);
}

/* Names in folder `path` that are folders (want_folders) or image files. */
static rlkd_status list_folder(opening *o, const char *path, int want_folders,
                               string_list *names, int *readable)
{
    *readable = 0;
    DIR *folder = opendir(path);
    if (!folder)
        return RLKD_OK;
    *readable = 1;
    rlkd_status status = RLKD_OK;
    struct dirent *entry;
    while (status == RLKD_OK && (entry = readdir(folder))) {
        const char *name = entry->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (!want_folders && !is_image_name(name))
            continue;
        char *full = join_path(path, name);
        if (!full) {
            status = out_of_memory(o);
            break;
        }
        if (is_kind(full, want_folders) &&
            !string_list_add(names, name))
            status = out_of_memory(o);
        free(full);
    }
    closedir(folder);
    string_list_sort(names);
    return status;
}

/* Adds the images of one class folder. */
static rlkd_status open_class(opening *o, const char *root, const char *name,
                              int32_t label)
{
    char *folder = join_path(root, name);
    if (!folder)
        return out_of_memory(o);
    string_list files = {0};
    int readable;
    rlkd_status status = list_folder(o, folder, 0, &files, &readable);
    if (status == RLKD_OK && !readable)
        status = report_bad(o, RLKD_ERR_IO, folder,
                            "cannot read the class folder");
    else if (status == RLKD_OK && files.count == 0)
        status = report_bad(o, RLKD_ERR_FORMAT, folder,
                            "empty class folder (no .jpg, .jpeg or .png file)");
    for (int64_t i = 0; status == RLKD_OK && i < files.count; i++) {
        char *path = join_path(folder, files.items[i]);
        if (!path) {
            status = out_of_memory(o);
            break;
        }
        status = add_image(o, path, label);
        free(path);
    }
    string_list_free(&files);
    free(folder);
    return status;
}

rlkd_status rlkd_dataset_open_folder(const char *root,
                                     const rlkd_folder_options *options,
                                     rlkd_dataset **out)
{
    static const char op[] = "rlkd_dataset_open_folder";
    RLKD_TRY(rlkd_data_expect_pointer(op, "out", out));
    *out = NULL;
    RLKD_TRY(rlkd_data_expect_pointer(op, "root", root));
    opening o = {.op = op};
    RLKD_TRY(check_options(op, options, &o.options));
    string_list classes = {0};
    int readable;
    rlkd_status status = list_folder(&o, root, 1, &classes, &readable);
    if (status == RLKD_OK && !readable)
        status = rlkd_fail(RLKD_ERR_IO, "%s: %s: cannot read the folder: %s",
                           op, root, strerror(errno));
    else if (status == RLKD_OK && classes.count == 0)
        status = rlkd_fail(RLKD_ERR_FORMAT,
                           "%s: %s: no class folder (expected root/<class>/<image>)",
                           op, root);
    else if (status == RLKD_OK && classes.count > INT32_MAX)
        status = rlkd_fail(RLKD_ERR_FORMAT, "%s: %s: %lld class folders", op,
                           root, (long long)classes.count);
    for (int64_t c = 0; status == RLKD_OK && c < classes.count; c++)
        status = open_class(&o, root, classes.items[c], (int32_t)c);
    if (status == RLKD_OK)
        status = finish(&o, (int)classes.count, &classes, root, out);
    string_list_free(&classes);
    opening_free(&o);
    return status;
}

/* One list line, without its newline: "path label". */
static rlkd_status parse_line(opening *o, const char *list_path, int64_t line_number,
                              char *line, const char *root, int32_t *largest)
{
    char *end = line + strlen(line);
    while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        *--end = '\0';
    if (end == line)
        return RLKD_OK; /* blank */
    char *label_start = end;
    while (label_start > line && label_start[-1] != ' ' && label_start[-1] != '\t')
        label_start--;
    char *path_end = label_start;
    while (path_end > line && (path_end[-1] == ' ' || path_end[-1] == '\t'))
        path_end--;
    char *parsed;
    errno = 0;
    long label = strtol(label_start, &parsed, 10);
    if (path_end == line || *parsed != '\0' || parsed == label_start ||
        errno != 0 || label < 0 || label >= INT32_MAX)
        return rlkd_fail(RLKD_ERR_FORMAT,
                         "%s: %s: line %lld is not \"relative/path label\" with "
                         "a label in [0, 2^31 - 1)",
                         o->op, list_path, (long long)line_number);
    *path_end = '\0';
    char *path = root ? join_path(root, line) : NULL;
    if (root && !path)
        return out_of_memory(o);
    rlkd_status status = add_image(o, path ? path : line, (int32_t)label);
    free(path);
    if ((int32_t)label > *largest)
        *largest = (int32_t)label;
    return status;
}

rlkd_status rlkd_dataset_open_list(const char *list_path, const char *root,
                                   const rlkd_folder_options *options,
                                   rlkd_dataset **out)
{
    static const char op[] = "rlkd_dataset_open_list";
    RLKD_TRY(rlkd_data_expect_pointer(op, "out", out));
    *out = NULL;
    RLKD_TRY(rlkd_data_expect_pointer(op, "list_path", list_path));
    opening o = {.op = op};
    RLKD_TRY(check_options(op, options, &o.options));
    FILE *list = fopen(list_path, "r");
    if (!list)
        return rlkd_fail(RLKD_ERR_IO, "%s: %s: %s", op, list_path,
                         strerror(errno));
    char *line = malloc(LINE_BYTES);
    rlkd_status status = line ? RLKD_OK : out_of_memory(&o);
    int32_t largest = -1;
    for (int64_t number = 1; status == RLKD_OK && fgets(line, LINE_BYTES, list);
         number++) {
        size_t length = strlen(line);
        if (length == LINE_BYTES - 1 && line[length - 1] != '\n' && !feof(list)) {
            status = rlkd_fail(RLKD_ERR_FORMAT, "%s: %s: line %lld is longer "
                               "than %d bytes", op, list_path, (long long)number,
                               LINE_BYTES - 2);
            break;
        }
        if (length > 0 && line[length - 1] == '\n')
            line[length - 1] = '\0';
        status = parse_line(&o, list_path, number, line, root, &largest);
    }
    if (status == RLKD_OK && ferror(list))
        status = rlkd_fail(RLKD_ERR_IO, "%s: %s: read error", op, list_path);
    fclose(list);
    free(line);
    if (status == RLKD_OK)
        status = finish(&o, largest + 1, NULL, list_path, out);
    opening_free(&o);
    return status;
}

rlkd_status rlkd_dataset_bad_file_count(const rlkd_dataset *dataset,
                                        int64_t *count)
{
    static const char op[] = "rlkd_dataset_bad_file_count";
    RLKD_TRY(rlkd_data_expect_pointer(op, "dataset", dataset));
    RLKD_TRY(rlkd_data_expect_pointer(op, "count", count));
    *count = dataset->bad_count;
    return RLKD_OK;
}

rlkd_status rlkd_dataset_bad_file(const rlkd_dataset *dataset, int64_t index,
                                  const char **path, const char **reason)
{
    static const char op[] = "rlkd_dataset_bad_file";
    RLKD_TRY(rlkd_data_expect_pointer(op, "dataset", dataset));
    if (index < 0 || index >= dataset->bad_count)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: index %lld is outside [0, %lld)", op,
                         (long long)index, (long long)dataset->bad_count);
    if (path)
        *path = dataset->bad_paths[index];
    if (reason)
        *reason = dataset->bad_reasons[index];
    return RLKD_OK;
}

rlkd_status rlkd_dataset_class_name(const rlkd_dataset *dataset, int label,
                                    const char **name)
{
    static const char op[] = "rlkd_dataset_class_name";
    RLKD_TRY(rlkd_data_expect_pointer(op, "dataset", dataset));
    RLKD_TRY(rlkd_data_expect_pointer(op, "name", name));
    if (label < 0 || label >= dataset->classes)
        return rlkd_fail(RLKD_ERR_INVALID_ARGUMENT,
                         "%s: label %d is outside [0, %d)", op, label,
                         dataset->classes);
    *name = dataset->class_names ? dataset->class_names[label] : NULL;
    return RLKD_OK;
}

rlkd_status rlkd_dataset_files_like(const char *op, const rlkd_dataset *source,
                                    int64_t count, rlkd_dataset **out)
{
    rlkd_dataset *dataset = calloc(1, sizeof *dataset);
    if (!dataset)
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "%s: out of memory for the data set", op);
    dataset->count = count;
    dataset->channels = source->channels;
    dataset->classes = source->classes;
    dataset->bad_files = source->bad_files;
    dataset->verified = source->verified;
    dataset->labels = calloc((size_t)count, sizeof *dataset->labels);
    dataset->paths = calloc((size_t)count, sizeof *dataset->paths);
    int missing = !dataset->labels || !dataset->paths;
    if (!missing && source->class_names) {
        dataset->class_names =
            calloc((size_t)source->classes, sizeof *dataset->class_names);
        missing = !dataset->class_names;
        for (int c = 0; !missing && c < source->classes; c++)
            missing = !(dataset->class_names[c] = strdup(source->class_names[c]));
    }
    if (missing) {
        rlkd_dataset_destroy(dataset);
        return rlkd_fail(RLKD_ERR_OUT_OF_MEMORY,
                         "%s: out of memory for %lld paths", op,
                         (long long)count);
    }
    *out = dataset;
    return RLKD_OK;
}
