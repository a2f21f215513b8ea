/*
 * IDX image and label files, plain or gzip (lib/data/idx.c,
 * rlkd_dataset_load_idx). The input is both files: a little-endian uint32
 * gives the image file's length (cut to what follows), the image file,
 * then the label file.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char images_path[FUZZ_PATH_BYTES], labels_path[FUZZ_PATH_BYTES];
    if (!images_path[0]) {
        fuzz_path(images_path, "images.idx");
        fuzz_path(labels_path, "labels.idx");
    }
    const size_t rest = size < 4 ? 0 : size - 4;
    const uint32_t wanted = fuzz_u32(data, size);
    const size_t images = wanted < rest ? wanted : rest;
    fuzz_write_file(images_path, data + size - rest, images);
    fuzz_write_file(labels_path, data + size - rest + images, rest - images);
    rlkd_dataset *dataset = NULL;
    const rlkd_status status =
        rlkd_dataset_load_idx(images_path, labels_path, &dataset);
    fuzz_expect(status, FUZZ_ALLOW(RLKD_ERR_FORMAT) | FUZZ_ALLOW(RLKD_ERR_IO),
                "rlkd_dataset_load_idx");
    if (!dataset)
        return 0;
    int64_t count;
    int channels, height, width, classes;
    fuzz_expect(rlkd_dataset_info(dataset, &count, &channels, &height, &width,
                                  &classes),
                0, "rlkd_dataset_info");
    int32_t label;
    fuzz_expect(rlkd_dataset_get_item(dataset, count - 1, NULL, &label), 0,
                "rlkd_dataset_get_item");
    if (channels != 1 || label < 0 || label >= classes)
        fuzz_abort("IDX data set of %d channels, label %d of %d classes",
                   channels, (int)label, classes);
    rlkd_dataset_destroy(dataset);
    return 0;
}
