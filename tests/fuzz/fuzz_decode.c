/*
 * JPEG and PNG decoding (lib/data/decode.c, rlkd_image_decode_file): the
 * input is the image file, read for its header only and decoded whole; a
 * file that decodes must have the size its header gave.
 */
#include "fuzz.h"

#include "data/data_internal.h"

#include <stdlib.h>

static rlkd_status decode(const char *path, int header_only,
                          rlkd_rgb_image *image)
{
    char reason[RLKD_REASON_BYTES];
    const rlkd_status status =
        rlkd_image_decode_file(path, header_only, image, reason);
    if (status != RLKD_OK && status != RLKD_ERR_FORMAT)
        fuzz_abort("decoding an image file gave %s: %s",
                   rlkd_status_string(status), reason);
    if (status != RLKD_OK && !reason[0])
        fuzz_abort("a bad image file without a reason");
    if (status == RLKD_OK &&
        (image->height < 1 || image->width < 1 ||
         (header_only != (image->pixels == NULL))))
        fuzz_abort("an image of %d x %d pixels, pixels %p", image->width,
                   image->height, (void *)image->pixels);
    return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[FUZZ_PATH_BYTES];
    if (!path[0])
        fuzz_path(path, "input.img");
    fuzz_write_file(path, data, size);
    rlkd_rgb_image header, image;
    const rlkd_status header_status = decode(path, 1, &header);
    const rlkd_status status = decode(path, 0, &image);
    if (status == RLKD_OK &&
        (header_status != RLKD_OK || header.height != image.height ||
         header.width != image.width))
        fuzz_abort("decoded %d x %d, but the header read gave %s, %d x %d",
                   image.width, image.height,
                   rlkd_status_string(header_status), header.width,
                   header.height);
    free(image.pixels);
    return 0;
}
