/*
 * The list files of rlkd_dataset_open_list (lib/data/folder.c): lines of
 * "relative/path label" under a root folder that holds a PNG, a JPEG and
 * a broken image. The first input byte chooses the options (verify: its
 * value mod 3; bad files fail the open when bit 2 is set), the rest is
 * the list. Lists that name ".." are passed over, so that the paths stay
 * in the root (elsewhere a path could name a FIFO and block).
 */
#include "fuzz.h"

#include <png.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

static int names_parent(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i + 1 < size; i++)
        if (data[i] == '.' && data[i + 1] == '.')
            return 1;
    return 0;
}

static void check_dataset(const rlkd_dataset *dataset)
{
    int64_t count, bad;
    int classes;
    fuzz_expect(rlkd_dataset_info(dataset, &count, NULL, NULL, NULL, &classes),
                0, "rlkd_dataset_info");
    fuzz_expect(rlkd_dataset_bad_file_count(dataset, &bad), 0,
                "rlkd_dataset_bad_file_count");
    for (int64_t i = 0; i < bad; i++) {
        const char *path, *reason;
        fuzz_expect(rlkd_dataset_bad_file(dataset, i, &path, &reason), 0,
                    "rlkd_dataset_bad_file");
        if (!path || !reason || !reason[0])
            fuzz_abort("bad file %lld has no path or reason", (long long)i);
    }
    if (count < 1 || classes < 1)
        fuzz_abort("a list data set of %lld images, %d classes",
                   (long long)count, classes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char root[FUZZ_PATH_BYTES], list_path[FUZZ_PATH_BYTES];
    if (!root[0]) {
        char path[FUZZ_PATH_BYTES + 16];
        fuzz_path(root, "images");
        fuzz_path(list_path, "list.txt");
        if (mkdir(root, 0777) != 0)
            fuzz_abort("cannot make %s", root);
        snprintf(path, sizeof path, "%s/a.png", root);
        fuzz_write_png(path, 5, 3, PNG_COLOR_TYPE_RGB, 8, 0);
        snprintf(path, sizeof path, "%s/b c.jpg", root);
        fuzz_write_jpeg(path, 4, 6, TJPF_RGB, TJSAMP_420, 0);
        snprintf(path, sizeof path, "%s/bad.png", root);
        fuzz_write_file(path, "\x89PNG\r\n\x1a\n", 8);
    }
    if (size < 1 || names_parent(data, size))
        return 0;
    rlkd_folder_options options;
    rlkd_folder_options_init(&options);
    options.verify = (rlkd_verify)(data[0] % 3);
    options.bad_files = data[0] & 4 ? RLKD_BAD_FILES_FAIL : RLKD_BAD_FILES_SKIP;
    fuzz_write_file(list_path, data + 1, size - 1);
    rlkd_dataset *dataset = NULL;
    fuzz_expect(rlkd_dataset_open_list(list_path, root, &options, &dataset),
                FUZZ_ALLOW(RLKD_ERR_FORMAT) | FUZZ_ALLOW(RLKD_ERR_IO),
                "rlkd_dataset_open_list");
    if (dataset)
        check_dataset(dataset);
    rlkd_dataset_destroy(dataset);
    return 0;
}
