/*
 * CIFAR binary files (lib/data/cifar.c, rlkd_dataset_load_cifar). The
 * first input byte chooses the call: bit 0 CIFAR-100 records, bit 1 its
 * coarse labels, bit 2 the file given twice; the rest is the file.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[FUZZ_PATH_BYTES];
    if (!path[0])
        fuzz_path(path, "input.bin");
    if (size < 1)
        return 0;
    const int cifar100 = data[0] & 1, coarse = cifar100 && (data[0] & 2);
    const int twice = (data[0] & 4) != 0;
    fuzz_write_file(path, data + 1, size - 1);
    const char *const paths[2] = {path, path};
    rlkd_dataset *dataset = NULL;
    const rlkd_status status = rlkd_dataset_load_cifar(
        paths, twice ? 2 : 1, cifar100, coarse, &dataset);
    fuzz_expect(status, FUZZ_ALLOW(RLKD_ERR_FORMAT) | FUZZ_ALLOW(RLKD_ERR_IO),
                "rlkd_dataset_load_cifar");
    if (!dataset)
        return 0;
    int64_t count;
    int classes;
    fuzz_expect(rlkd_dataset_info(dataset, &count, NULL, NULL, NULL, &classes),
                0, "rlkd_dataset_info");
    for (int64_t i = 0; i < count; i++) {
        int32_t label;
        fuzz_expect(rlkd_dataset_get_item(dataset, i, NULL, &label), 0,
                    "rlkd_dataset_get_item");
        if (label < 0 || label >= classes)
            fuzz_abort("CIFAR image %lld has label %d of %d classes",
                       (long long)i, (int)label, classes);
    }
    rlkd_dataset_destroy(dataset);
    return 0;
}
