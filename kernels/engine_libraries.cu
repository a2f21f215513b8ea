/*
 * cuDNN and cuBLAS, opened on first use (dlopen) rather than linked: a
 * program that never picks RLKD_ENGINE_CUDNN needs neither library
 * installed, and does not map their several hundred megabytes. The
 * libraries are the major versions rlkd was built against, found as the
 * dynamic loader finds any (LD_LIBRARY_PATH, librlkd's run path, the
 * system's), or at RLKD_CUDNN_LIBRARY / RLKD_CUBLAS_LIBRARY (full paths).
 */
#include "engines.cuh"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define RLKD_TEXT(x) #x
#define RLKD_VERSION_TEXT(x) RLKD_TEXT(x)

rlkd_engine_library rlkd_dnn;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static rlkd_status load_status;
static char load_failure[512];

/* Opens `variable`'s path if set, else the soname; NULL with the reason in
 * load_failure. */
static void *open_library(const char *what, const char *soname,
                          const char *variable)
{
    const char *path = getenv(variable);
    const char *name = path && *path ? path : soname;
    void *library = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!library)
        snprintf(load_failure, sizeof load_failure,
                 "%s is not installed where the loader looks (%s; set "
                 "LD_LIBRARY_PATH or %s): %s", what, name, variable,
                 dlerror());
    return library;
}

/* Every function of the table from `library`; 0 and the reason in
 * load_failure at the first one missing. */
static int resolve(void *library, const char *what, const char *name,
                   void **slot)
{
    *slot = dlsym(library, name);
    if (*slot)
        return 1;
    snprintf(load_failure, sizeof load_failure,
             "%s lacks %s (another version than the %s rlkd was built "
             "against?)", what, name, what);
    return 0;
}

static void load(void)
{
    static const char cudnn_name[] = "cuDNN " RLKD_VERSION_TEXT(CUDNN_MAJOR);
    static const char cublas_name[] =
        "cuBLAS " RLKD_VERSION_TEXT(CUBLAS_VER_MAJOR);
    load_status = RLKD_ERR_UNSUPPORTED;
    void *cudnn = open_library(cudnn_name,
                               "libcudnn.so." RLKD_VERSION_TEXT(CUDNN_MAJOR),
                               "RLKD_CUDNN_LIBRARY");
    if (!cudnn)
        return;
    void *cublas = open_library(
        cublas_name, "libcublas.so." RLKD_VERSION_TEXT(CUBLAS_VER_MAJOR),
        "RLKD_CUBLAS_LIBRARY");
    if (!cublas)
        return;
#define RLKD_RESOLVE(library, what, f)                                     \
    if (!resolve(library, what, #f, (void **)&rlkd_dnn.f))                 \
        return;
#define RLKD_RESOLVE_CUDNN(f) RLKD_RESOLVE(cudnn, cudnn_name, f)
#define RLKD_RESOLVE_CUBLAS(f) RLKD_RESOLVE(cublas, cublas_name, f)
    RLKD_CUDNN_FUNCTIONS(RLKD_RESOLVE_CUDNN)
    RLKD_CUBLAS_FUNCTIONS(RLKD_RESOLVE_CUBLAS)
#undef RLKD_RESOLVE_CUBLAS
#undef RLKD_RESOLVE_CUDNN
#undef RLKD_RESOLVE
    /* The libraries stay open for the life of the process: their
     * functions are in rlkd_dnn. */
    load_status = RLKD_OK;
}

extern "C" rlkd_status rlkd_engines_load(const char *op)
{
    pthread_once(&load_once, load);
    if (load_status == RLKD_OK)
        return RLKD_OK;
    return rlkd_fail(load_status, "%s: RLKD_ENGINE_CUDNN: %s", op,
                     load_failure);
}
