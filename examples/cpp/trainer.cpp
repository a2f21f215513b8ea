/*
 * A C++17 program on top of rlkd's C API, the way an existing C++ trainer
 * would use the library. It builds a small CNN with rlkd's builder
 *   conv3x3(1->16) -> BN -> ReLU -> maxpool2 -> conv3x3(16->32) -> BN -> ReLU
 *   -> global average pool -> linear(32->4)
 * trains it in its own loop (rlkd's forward and backward, its softmax
 * cross-entropy and SGD ops) on synthetic images, lets rlkd's RL search pick
 * the channels each convolution keeps under a MACs budget, scoring every
 * policy with its own accuracy loop over the masked network, applies the
 * best policy, fine-tunes with the masks, and compacts the network.
 * It exits 0 only when all of that held: the loss went down, the network
 * learned, the policy fits the budget, and the compacted network computes
 * what the masked one does at the policy's cost.
 *
 * Build it against an installed rlkd (make install PREFIX=<prefix>), either
 * with pkg-config:
 *   export PKG_CONFIG_PATH=<prefix>/lib/pkgconfig   # unless a system prefix
 *   c++ -std=c++17 -O2 trainer.cpp $(pkg-config --cflags --libs rlkd) -o trainer
 *   LD_LIBRARY_PATH=<prefix>/lib ./trainer
 * or with CMake (CMakeLists.txt here; find_package(rlkd), rlkd::rlkd):
 *   cmake -S examples/cpp -B build/cpp -DCMAKE_PREFIX_PATH=<prefix>
 *   cmake --build build/cpp && build/cpp/trainer
 */
#include <rlkd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

// A failed call becomes an exception with rlkd's own message, which names
// the call, the argument and the value.
struct rlkd_error : std::runtime_error {
    rlkd_status status;
    explicit rlkd_error(rlkd_status s)
        : std::runtime_error(std::string(rlkd_status_string(s)) + ": " +
                             rlkd_last_error()),
          status(s)
    {
    }
};

void check(rlkd_status status)
{
    if (status != RLKD_OK)
        throw rlkd_error(status);
}

// Handles are owned by unique_ptrs that call the matching _destroy.
template <auto destroy> struct deleter {
    template <class T> void operator()(T *handle) const noexcept { destroy(handle); }
};
using context_ptr = std::unique_ptr<rlkd_context, deleter<rlkd_context_destroy>>;
using tensor_ptr = std::unique_ptr<rlkd_tensor, deleter<rlkd_tensor_destroy>>;
using net_ptr = std::unique_ptr<rlkd_net, deleter<rlkd_net_destroy>>;
using search_ptr = std::unique_ptr<rlkd_search, deleter<rlkd_search_destroy>>;

tensor_ptr make_tensor(rlkd_context *ctx, rlkd_dtype dtype, std::vector<int64_t> shape)
{
    rlkd_tensor *t = nullptr;
    check(rlkd_tensor_create(ctx, dtype, static_cast<int>(shape.size()), shape.data(),
                             &t));
    return tensor_ptr(t);
}

constexpr int side = 12;
constexpr int classes = 4;
constexpr int batch = 32;

// Images of one short line on noise; the class is the line's direction
// (horizontal, vertical, diagonal, anti-diagonal), wherever it lies.
struct dataset {
    std::vector<float> images; // [count, 1, side, side]
    std::vector<int32_t> labels;
    int batches() const { return static_cast<int>(labels.size()) / batch; }
};

dataset make_lines(int batches, uint32_t seed)
{
    static constexpr int step_y[classes] = {0, 1, 1, 1};
    static constexpr int step_x[classes] = {1, 0, 1, -1};
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> label(0, classes - 1), centre(2, side - 3);
    std::uniform_real_distribution<float> noise(-0.3f, 0.3f);
    dataset data;
    const int count = batches * batch;
    data.images.resize(static_cast<size_t>(count) * side * side);
    for (int n = 0; n < count; n++) {
        float *image = &data.images[static_cast<size_t>(n) * side * side];
        for (int i = 0; i < side * side; i++)
            image[i] = noise(rng);
        const int c = label(rng), y = centre(rng), x = centre(rng);
        for (int k = -2; k <= 2; k++)
            image[(y + k * step_y[c]) * side + x + k * step_x[c]] += 1.0f;
        data.labels.push_back(c);
    }
    return data;
}

// The trainer's own input pipeline: one batch of a data set at a time in
// rlkd tensors.
class batcher {
public:
    explicit batcher(rlkd_context *ctx)
        : images_(make_tensor(ctx, RLKD_DTYPE_F32, {batch, 1, side, side})),
          labels_(make_tensor(ctx, RLKD_DTYPE_I32, {batch}))
    {
    }

    void load(const dataset &data, int index)
    {
        const size_t pixels = static_cast<size_t>(batch) * side * side;
        check(rlkd_tensor_write(images_.get(), &data.images[index * pixels], pixels));
        check(rlkd_tensor_write_i32(
            labels_.get(), &data.labels[static_cast<size_t>(index) * batch], batch));
    }
    rlkd_tensor *images() const { return images_.get(); }
    rlkd_tensor *labels() const { return labels_.get(); }

private:
    tensor_ptr images_, labels_;
};

// One convolution of the network as built: the search's state needs its
// shape, which the network's channel groups do not carry.
struct conv_spec {
    std::string name;
    int in_channels, out_channels, kernel, stride;
};

const std::vector<conv_spec> convolutions = {
    {"conv1", 1, 16, 3, 1},
    {"conv2", 16, 32, 3, 1},
};

net_ptr build_network(rlkd_context *ctx)
{
    rlkd_net *raw = nullptr;
    check(rlkd_net_create(ctx, 1, side, side, &raw));
    net_ptr net(raw);
    rlkd_net *n = net.get();
    int node = 0;
    for (size_t i = 0; i < convolutions.size(); i++) {
        const conv_spec &conv = convolutions[i];
        const std::string bn = "bn" + std::to_string(i + 1);
        check(rlkd_net_add_conv2d(n, &node, conv.name.c_str(), node, conv.out_channels,
                                  conv.kernel, conv.stride, conv.kernel / 2, 1, 1, 0));
        check(rlkd_net_add_batchnorm2d(n, &node, bn.c_str(), node, 1e-5f, 0.1f));
        check(rlkd_net_add_relu(n, &node, nullptr, node));
        if (i == 0)
            check(rlkd_net_add_maxpool2d(n, &node, nullptr, node, 2, 2, 0));
    }
    check(rlkd_net_add_global_avgpool(n, &node, nullptr, node));
    check(rlkd_net_add_linear(n, &node, "fc", node, classes, 1));
    return net;
}

int64_t network_macs(const rlkd_net *net)
{
    int64_t macs = 0;
    check(rlkd_net_cost(net, nullptr, &macs));
    return macs;
}

// SGD with momentum over every parameter of a network, through
// rlkd_sgd_step; the trainer owns the momentum buffers.
class sgd {
public:
    sgd(rlkd_context *ctx, rlkd_net *net, float momentum, float weight_decay)
        : ctx_(ctx), momentum_(momentum), weight_decay_(weight_decay)
    {
        int count = 0;
        check(rlkd_net_param_count(net, &count));
        for (int i = 0; i < count; i++) {
            slot s;
            check(rlkd_net_param(net, i, nullptr, &s.value, &s.grad));
            std::vector<int64_t> shape(rlkd_tensor_ndim(s.value));
            check(rlkd_tensor_shape(s.value, shape.data(),
                                    static_cast<int>(shape.size())));
            s.velocity = make_tensor(ctx, RLKD_DTYPE_F32, shape);
            slots_.push_back(std::move(s));
        }
    }

    void step(float lr)
    {
        for (slot &s : slots_)
            check(rlkd_sgd_step(ctx_, s.value, s.velocity.get(), s.grad, lr, momentum_,
                                weight_decay_, 1));
    }

private:
    struct slot {
        rlkd_tensor *value = nullptr, *grad = nullptr; // the network's
        tensor_ptr velocity;
    };
    rlkd_context *ctx_;
    float momentum_, weight_decay_;
    std::vector<slot> slots_;
};

// One epoch of the trainer's loop; returns the mean training loss.
double train_epoch(rlkd_context *ctx, rlkd_net *net, sgd &optimizer, batcher &input,
                   const dataset &data, float lr)
{
    const tensor_ptr loss = make_tensor(ctx, RLKD_DTYPE_F32, {1});
    const tensor_ptr dlogits = make_tensor(ctx, RLKD_DTYPE_F32, {batch, classes});
    double sum = 0.0;
    for (int b = 0; b < data.batches(); b++) {
        input.load(data, b);
        rlkd_tensor *logits = nullptr;
        check(rlkd_net_forward(net, input.images(), 1, &logits));
        check(rlkd_softmax_cross_entropy_forward(ctx, loss.get(), dlogits.get(), logits,
                                                 input.labels(), 0.0f));
        check(rlkd_net_zero_grad(net)); // parameter gradients accumulate
        check(rlkd_net_backward(net, dlogits.get(), nullptr));
        optimizer.step(lr);
        float value = 0.0f;
        check(rlkd_tensor_read(loss.get(), &value, 1));
        sum += value;
    }
    return sum / data.batches();
}

// The logits of every image, in inference mode.
std::vector<float> predict(rlkd_net *net, batcher &input, const dataset &data)
{
    std::vector<float> all(data.labels.size() * classes);
    for (int b = 0; b < data.batches(); b++) {
        input.load(data, b);
        rlkd_tensor *logits = nullptr;
        check(rlkd_net_forward(net, input.images(), 0, &logits));
        check(rlkd_tensor_read(logits, &all[static_cast<size_t>(b) * batch * classes],
                               static_cast<size_t>(batch) * classes));
    }
    return all;
}

double accuracy(const std::vector<float> &logits, const dataset &data)
{
    int correct = 0;
    for (size_t n = 0; n < data.labels.size(); n++) {
        const float *row = &logits[n * classes];
        correct += std::max_element(row, row + classes) - row == data.labels[n];
    }
    return static_cast<double>(correct) / data.labels.size();
}

// The search's environment in the trainer's own terms: a policy (channels
// kept per convolution) becomes masks on the network, keeping each group's
// channels of largest L1 norm; its cost is the masked MACs and its score
// the masked network's accuracy on the validation images.
class pruning_env {
public:
    pruning_env(rlkd_net *net, batcher &input, const dataset &validation)
        : net_(net), input_(input), validation_(validation)
    {
        int groups = 0, layers = 0;
        check(rlkd_net_prune_group_count(net, &groups));
        check(rlkd_net_layer_count(net, &layers));
        for (int g = 0; g < groups; g++) {
            rlkd_prune_group group;
            rlkd_prune_group_init(&group);
            check(rlkd_net_prune_group(net, g, &group));
            if (!group.prunable)
                continue;
            const auto conv =
                std::find_if(convolutions.begin(), convolutions.end(),
                             [&](const conv_spec &c) { return c.name == group.name; });
            if (conv == convolutions.end())
                throw std::runtime_error(std::string("unexpected channel group ") +
                                         group.name);
            rlkd_search_layer layer;
            rlkd_search_layer_init(&layer);
            layer.name = group.name;
            layer.channels = group.channels;
            layer.in_channels = conv->in_channels;
            layer.kernel = conv->kernel;
            layer.stride = conv->stride;
            layer.kind = 0;
            for (int l = 0; l < layers; l++) {
                rlkd_layer_cost cost;
                rlkd_layer_cost_init(&cost);
                check(rlkd_net_layer_cost(net, l, &cost));
                if (conv->name == cost.name) {
                    layer.params = cost.params;
                    layer.macs = cost.macs;
                }
            }
            groups_.push_back(g);
            layers_.push_back(layer);
        }
    }

    const std::vector<rlkd_search_layer> &layers() const { return layers_; }

    void apply(const int *keep)
    {
        for (size_t i = 0; i < groups_.size(); i++)
            check(rlkd_net_prune_keep(net_, groups_[i], keep[i], RLKD_PRUNE_L1));
    }

    // The callbacks rlkd calls. An exception must not unwind through C: each
    // keeps it and answers a status, and check_after_callbacks rethrows it.
    static rlkd_status cost(void *user, const int *keep, int, int64_t *macs) noexcept
    {
        auto *env = static_cast<pruning_env *>(user);
        return env->guarded([&] {
            env->apply(keep);
            *macs = network_macs(env->net_);
        });
    }
    static rlkd_status score(void *user, const int *keep, const double *, int,
                             double *score, double *) noexcept
    {
        auto *env = static_cast<pruning_env *>(user);
        return env->guarded([&] {
            env->apply(keep);
            *score = accuracy(predict(env->net_, env->input_, env->validation_),
                              env->validation_);
        });
    }

    // After a call that ran the callbacks: their exception if one was thrown,
    // else the call's status.
    void check_after_callbacks(rlkd_status status)
    {
        if (error_)
            std::rethrow_exception(std::exchange(error_, nullptr));
        check(status);
    }

private:
    template <class F> rlkd_status guarded(F &&body) noexcept
    {
        try {
            body();
            return RLKD_OK;
        } catch (const rlkd_error &e) {
            error_ = std::current_exception();
            return e.status;
        } catch (...) {
            error_ = std::current_exception();
            return RLKD_ERR_INTERNAL;
        }
    }

    rlkd_net *net_;
    batcher &input_;
    const dataset &validation_;
    std::vector<int> groups_;
    std::vector<rlkd_search_layer> layers_;
    std::exception_ptr error_;
};

// A claim the program makes, printed, and remembered when it fails.
class verdict {
public:
    void require(bool held, const std::string &claim)
    {
        std::printf("%s: %s\n", held ? "ok" : "FAILED", claim.c_str());
        failed_ += !held;
    }
    bool passed() const { return failed_ == 0; }

private:
    int failed_ = 0;
};

std::string decimal(double value, int digits = 3)
{
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", digits, value);
    return text;
}

int run()
{
    rlkd_context *raw_ctx = nullptr;
    check(rlkd_context_create(&raw_ctx, RLKD_DEVICE_CPU, 0));
    const context_ptr ctx(raw_ctx);
    check(rlkd_context_set_seed(ctx.get(), 7));

    const dataset train = make_lines(24, 1), validation = make_lines(8, 2);
    batcher input(ctx.get());
    const net_ptr net = build_network(ctx.get());
    verdict result;

    // 1. Train in our own loop.
    sgd optimizer(ctx.get(), net.get(), 0.9f, 5e-4f);
    const int epochs = 6;
    std::vector<double> losses;
    for (int epoch = 0; epoch < epochs; epoch++) {
        const float lr = 0.05f * 0.5f * (1.0f + std::cos(3.14159265f * epoch / epochs));
        losses.push_back(
            train_epoch(ctx.get(), net.get(), optimizer, input, train, lr));
        std::printf("epoch %d: training loss %.4f\n", epoch + 1, losses.back());
    }
    const double trained_top1 =
        accuracy(predict(net.get(), input, validation), validation);
    result.require(losses.back() < 0.5 * losses.front(),
                   "the training loss went down, " + decimal(losses.front()) + " -> " +
                       decimal(losses.back()));
    result.require(trained_top1 >= 0.9,
                   "the network learned: validation top-1 " + decimal(trained_top1));

    // 2. Search the channels each convolution keeps, with our own callbacks.
    const int64_t macs_before = network_macs(net.get());
    pruning_env env(net.get(), input, validation);
    rlkd_search_options options;
    rlkd_search_options_init(&options);
    options.macs_fraction = 0.5;
    options.round_to = 4;
    options.episodes = 40;
    options.warmup_episodes = 15;
    options.hidden1 = options.hidden2 = 64;
    options.batch_size = 32;
    options.seed = 3;
    rlkd_search *raw_search = nullptr;
    const int layer_count = static_cast<int>(env.layers().size());
    env.check_after_callbacks(
        rlkd_search_create(env.layers().data(), layer_count, &pruning_env::cost,
                           &pruning_env::score, &env, &options, &raw_search));
    const search_ptr search(raw_search);
    env.check_after_callbacks(rlkd_search_run(search.get(), options.episodes));
    std::vector<int> keep(layer_count);
    double reward = 0, score = 0;
    int64_t macs = 0;
    check(rlkd_search_best(search.get(), keep.data(), layer_count, &reward, &score,
                           &macs));
    std::printf("best policy:");
    for (int i = 0; i < layer_count; i++)
        std::printf(" %s %d/%d", env.layers()[i].name, keep[i],
                    env.layers()[i].channels);
    std::printf(", %lld of %lld MACs, validation top-1 %.3f\n",
                static_cast<long long>(macs), static_cast<long long>(macs_before),
                score);
    result.require(macs <= options.macs_fraction * macs_before,
                   "the policy fits the budget: " +
                       decimal(static_cast<double>(macs) / macs_before) +
                       " of the MACs <= " + decimal(options.macs_fraction, 2));

    // 3. Apply it, fine-tune with the masks, compact.
    env.apply(keep.data());
    result.require(network_macs(net.get()) == macs,
                   "the masked network costs what the search measured");
    for (int epoch = 0; epoch < 2; epoch++)
        train_epoch(ctx.get(), net.get(), optimizer, input, train, 0.01f);
    const std::vector<float> masked = predict(net.get(), input, validation);
    rlkd_net *raw_compact = nullptr;
    check(rlkd_net_prune_compact(net.get(), &raw_compact));
    const net_ptr compact(raw_compact);
    const std::vector<float> compacted = predict(compact.get(), input, validation);
    double diff = 0.0;
    for (size_t i = 0; i < masked.size(); i++)
        diff = std::max(diff, static_cast<double>(std::fabs(masked[i] - compacted[i])));
    int64_t params = 0, compact_macs = 0;
    check(rlkd_net_cost(compact.get(), &params, &compact_macs));
    const double pruned_top1 = accuracy(compacted, validation);
    result.require(compact_macs == macs, "the compacted network has the policy's " +
                                             std::to_string(compact_macs) + " MACs (" +
                                             std::to_string(params) + " params)");
    result.require(diff <= 1e-4, "it computes what the masked network does "
                                 "(max |logit difference| " +
                                     decimal(diff, 8) + ")");
    result.require(pruned_top1 >= 0.8,
                   "pruned and fine-tuned, it still classifies: validation top-1 " +
                       decimal(pruned_top1));
    if (!result.passed())
        return 1;
    std::printf("trained, searched, pruned to %.0f%% of the MACs and compacted: "
                "top-1 %.3f -> %.3f\n",
                100.0 * macs / macs_before, trained_top1, pruned_top1);
    return 0;
}

} // namespace

int main()
{
    try {
        return run();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "trainer: %s\n", e.what());
        return 1;
    }
}
