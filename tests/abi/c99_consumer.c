/* A plain C99 user of the installed rlkd: built with -std=c99 -pedantic
 * -Werror against the installed header, linked once against the shared and
 * once against the static library. It prints PASS/FAIL lines. */
#include <rlkd.h>

#include <stdio.h>
#include <string.h>

static int failures;

static void expect(int ok, const char *what)
{
    printf("%s abi/%s\n", ok ? "PASS" : "FAIL", what);
    if (!ok) {
        printf("  last error: %s\n", rlkd_last_error());
        failures++;
    }
}

int main(void)
{
    rlkd_context *ctx = NULL;
    rlkd_tensor *x = NULL, *y = NULL, *z = NULL;
    struct DLManagedTensor *exported = NULL; /* opaque: no DLPack header */
    const int64_t shape[2] = {2, 3};
    const float in[6] = {-1.0f, 2.0f, -3.0f, 4.0f, 0.5f, -0.5f};
    float out[6];
    char version[32];

    sprintf(version, "%d.%d.%d", RLKD_VERSION_MAJOR, RLKD_VERSION_MINOR,
            RLKD_VERSION_PATCH);
    expect(rlkd_version_number() == RLKD_VERSION_NUMBER,
           "version_number_matches_header");
    expect(strcmp(rlkd_version_string(), version) == 0,
           "version_string_matches_header");
    expect(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 0) == RLKD_OK,
           "context_create");
    expect(rlkd_tensor_create(ctx, RLKD_DTYPE_F32, 2, shape, &x) == RLKD_OK &&
               rlkd_tensor_create(ctx, RLKD_DTYPE_F32, 2, shape, &y) == RLKD_OK,
           "tensor_create");
    expect(rlkd_tensor_write(x, in, 6) == RLKD_OK &&
               rlkd_relu_forward(ctx, y, x) == RLKD_OK &&
               rlkd_tensor_read(y, out, 6) == RLKD_OK && out[0] == 0.0f &&
               out[1] == 2.0f && out[4] == 0.5f && out[5] == 0.0f,
           "relu_through_the_abi");
    expect(rlkd_relu_forward(ctx, NULL, x) == RLKD_ERR_INVALID_ARGUMENT &&
               strlen(rlkd_last_error()) > 0,
           "error_status_and_message");
    expect(strcmp(rlkd_status_string(RLKD_ERR_SHAPE), "RLKD_ERR_SHAPE") == 0,
           "status_string");
    expect(rlkd_tensor_to_dlpack(x, &exported) == RLKD_OK &&
               exported != NULL &&
               rlkd_tensor_from_dlpack(ctx, exported, &z) == RLKD_OK &&
               rlkd_tensor_data(z) == rlkd_tensor_data(x),
           "dlpack_round_trip");
    rlkd_tensor_destroy(z); /* calls the export's deleter */
    rlkd_tensor_destroy(y);
    rlkd_tensor_destroy(x);
    rlkd_context_destroy(ctx);
    rlkd_context_destroy(NULL);
    return failures ? 1 : 0;
}
