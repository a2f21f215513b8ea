/*
 * Engines (rlkd_context_set_engine, RLKD_CONV_ENGINE) where no GPU is
 * needed: the environment variable at context creation, what a CPU context
 * accepts, the calls' argument checks, and the opening of cuDNN and cuBLAS
 * (internal: this test links the static library). The CUDNN engine's
 * results are tests/gpu/test_engines_gpu.c's.
 */
#include "testlib.h"
#include "../lib/core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rlkd_engine engine_of(const rlkd_context *ctx)
{
    rlkd_engine engine = (rlkd_engine)-1;
    CHECK_OK(rlkd_context_get_engine(ctx, &engine));
    return engine;
}

/* "native", unset and empty all give the native engine. */
static void environment_native(void)
{
    const char *values[] = {"native", "", NULL};
    for (int i = 0; i < 3; i++) {
        if (values[i])
            setenv("RLKD_CONV_ENGINE", values[i], 1);
        else
            unsetenv("RLKD_CONV_ENGINE");
        rlkd_context *ctx = NULL;
        if (CHECK_OK(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 0)))
            CHECK_MSG(engine_of(ctx) == RLKD_ENGINE_NATIVE,
                      "RLKD_CONV_ENGINE=%s gave engine %d",
                      values[i] ? values[i] : "(unset)", (int)engine_of(ctx));
        rlkd_context_destroy(ctx);
    }
    unsetenv("RLKD_CONV_ENGINE");
}

/* An unknown name fails the creation, naming the value. */
static void environment_unknown(void)
{
    setenv("RLKD_CONV_ENGINE", "bogus", 1);
    rlkd_context *ctx = (rlkd_context *)&ctx;
    CHECK_FAILS(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 0),
                RLKD_ERR_INVALID_ARGUMENT, "RLKD_CONV_ENGINE is \"bogus\"");
    CHECK(ctx == NULL);
    setenv("RLKD_CONV_ENGINE", "CUDNN", 1); /* names are lower case */
    CHECK_FAILS(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 0),
                RLKD_ERR_INVALID_ARGUMENT, "\"CUDNN\"");
    CHECK(ctx == NULL);
    unsetenv("RLKD_CONV_ENGINE");
}

/* "cudnn" is for CUDA contexts: a CPU context starts native; a CUDA one
 * gets cuDNN or fails as RLKD_ENGINE_CUDNN would (no GPU, or a build
 * without cuDNN and cuBLAS). */
static void environment_cudnn(void)
{
    setenv("RLKD_CONV_ENGINE", "cudnn", 1);
    rlkd_context *ctx = NULL;
    if (CHECK_OK(rlkd_context_create(&ctx, RLKD_DEVICE_CPU, 0)))
        CHECK(engine_of(ctx) == RLKD_ENGINE_NATIVE);
    rlkd_context_destroy(ctx);

    ctx = NULL;
    rlkd_status status = rlkd_context_create(&ctx, RLKD_DEVICE_CUDA, 0);
    if (status == RLKD_OK)
        CHECK(engine_of(ctx) == RLKD_ENGINE_CUDNN);
    else
        CHECK_MSG((status == RLKD_ERR_NO_DEVICE ||
                   status == RLKD_ERR_UNSUPPORTED) && ctx == NULL,
                  "a CUDA context with RLKD_CONV_ENGINE=cudnn: %s (%s)",
                  rlkd_status_string(status), rlkd_last_error());
    rlkd_context_destroy(ctx);
    unsetenv("RLKD_CONV_ENGINE");
}

static void cpu_context(void)
{
    CHECK(engine_of(test_ctx) == RLKD_ENGINE_NATIVE);
    CHECK_FAILS(rlkd_context_set_engine(test_ctx, RLKD_ENGINE_CUDNN),
                RLKD_ERR_UNSUPPORTED,
                "RLKD_ENGINE_CUDNN needs a CUDA context");
    CHECK_MSG(engine_of(test_ctx) == RLKD_ENGINE_NATIVE,
              "a refused engine was kept");
    CHECK_OK(rlkd_context_set_engine(test_ctx, RLKD_ENGINE_NATIVE));
    CHECK(engine_of(test_ctx) == RLKD_ENGINE_NATIVE);
    CHECK_FAILS(rlkd_context_set_engine(test_ctx, (rlkd_engine)7),
                RLKD_ERR_INVALID_ARGUMENT, "unknown engine 7");
    CHECK(engine_of(test_ctx) == RLKD_ENGINE_NATIVE);
}

static void null_arguments(void)
{
    rlkd_engine engine;
    CHECK_FAILS(rlkd_context_set_engine(NULL, RLKD_ENGINE_NATIVE),
                RLKD_ERR_INVALID_ARGUMENT, "context is NULL");
    CHECK_FAILS(rlkd_context_get_engine(NULL, &engine),
                RLKD_ERR_INVALID_ARGUMENT, "context is NULL");
    CHECK_FAILS(rlkd_context_get_engine(test_ctx, NULL),
                RLKD_ERR_INVALID_ARGUMENT, "engine is NULL");
}

/* With RLKD_CUDNN_LIBRARY naming a file that is not there, a process
 * that has not opened cuDNN yet is refused, the path named: this
 * program's "--missing-cudnn" run, a fresh process. */
#define MISSING_CUDNN "/nonexistent/libcudnn.so"

static int open_missing_cudnn(void)
{
    setenv("RLKD_CUDNN_LIBRARY", MISSING_CUDNN, 1);
    const rlkd_status status = rlkd_engines_load("test");
    if (status == RLKD_ERR_UNSUPPORTED &&
        strstr(rlkd_last_error(), MISSING_CUDNN))
        return 0;
    fprintf(stderr, "status %d: %s\n", (int)status, rlkd_last_error());
    return 1;
}

static const char *program;

/* cuDNN and cuBLAS are opened when a context first picks the engine
 * (kernels/engine_libraries.cu), once per process: a missing library is
 * RLKD_ERR_UNSUPPORTED naming it, and where they are installed every
 * function rlkd calls resolves. A build without the engine says so. */
static void libraries(void)
{
    if (!(rlkd_build_features() & RLKD_FEATURE_CUDNN)) {
        CHECK_FAILS(rlkd_engines_load("test"), RLKD_ERR_UNSUPPORTED,
                    "lacks cuDNN and cuBLAS");
        return;
    }
    char command[TEST_PATH_BYTES + 32];
    snprintf(command, sizeof command, "%s --missing-cudnn", program);
    CHECK_MSG(system(command) == 0,
              "a missing cuDNN was not refused with its path");
    const rlkd_status status = rlkd_engines_load("test");
    if (status != RLKD_OK && strstr(rlkd_last_error(), "is not installed")) {
        test_skip(rlkd_last_error());
        return;
    }
    CHECK_OK(status);
}

int main(int argc, char **argv)
{
    program = argv[0];
    if (argc == 2 && strcmp(argv[1], "--missing-cudnn") == 0)
        return open_missing_cudnn();
    test_main_begin();
    test_run("engine/environment_native", environment_native);
    test_run("engine/environment_unknown", environment_unknown);
    test_run("engine/environment_cudnn", environment_cudnn);
    test_run("engine/cpu_context", cpu_context);
    test_run("engine/null_arguments", null_arguments);
    test_run("engine/libraries", libraries);
    test_main_end();
    return test_finish();
}
