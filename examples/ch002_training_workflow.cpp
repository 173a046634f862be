// Seed chapter 002, "the training workflow", in kiln: the Wisconsin breast-cancer table that
// Debian's python3-sklearn ships, standardised, split 80/20 (and a validation part of the
// training rows), a small MLP trained with BCE-with-logits and Adam, validation every epoch
// with early stopping (the best weights are saved and restored), then accuracy, precision and
// recall on the held-out test rows.
//
// usage: ch002_training_workflow [breast_cancer.csv] [epochs]
#include "support.hpp"
#include <kiln/data/csv.hpp>
#include <kiln/data/loader.hpp>
#include <kiln/data/metrics.hpp>
#include <kiln/data/scaler.hpp>
#include <kiln/data/split.hpp>
#include <kiln/io/safetensors.hpp>
#include <kiln/kiln.hpp>
#include <kiln/loss/loss.hpp>
#include <kiln/nn/activation.hpp>
#include <kiln/nn/dropout.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/nn/sequential.hpp>
#include <kiln/optim/optim.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

using namespace kiln;

constexpr std::size_t features = 30, batch = 32;
using model_t = nn::sequential<nn::linear<features, 64>, nn::relu, nn::dropout, nn::linear<64, 32>, nn::relu,
                               nn::linear<32, 1>>;

/// Labels as float targets [B, 1] for the BCE loss.
static tensor<float, shape<batch, 1>> targets(const tensor<std::int64_t, shape<batch>>& y) {
    tensor<float, shape<batch, 1>> t;
    for (std::size_t i = 0; i < batch; ++i) t(i, 0) = float(y[i]);
    return t;
}

/// Mean loss and predictions (logit > 0) over a whole table, every row counted once.
static double evaluate(const model_t& model, const data::table& t, std::vector<std::int64_t>& pred, std::vector<std::int64_t>& truth) {
    data::loader<batch, features> rows(t);
    double total = 0;
    pred.clear();
    truth.clear();
    for (const auto& b : rows) {
        auto logits = model.predict(b.x);
        total += loss::bce_with_logits(logits, targets(b.y), b.valid).item() * double(b.valid);
        for (std::size_t i = 0; i < b.valid; ++i) {
            pred.push_back(logits(i, 0) > 0 ? 1 : 0);
            truth.push_back(b.y[i]);
        }
    }
    return total / double(t.rows());
}

static int run_main(int argc, char** argv) {
    const std::string path = argc > 1 ? argv[1] : "/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv";
    const int max_epochs = argc > 2 ? std::atoi(argv[2]) : 200;

    // Data: read, split (stratified), standardise with statistics of the training rows only.
    const auto table = data::read_sklearn_csv(path);
    auto [train_all, test] = data::train_test_split(table, 0.2, 42, /*stratify=*/true);
    auto [train, val] = data::train_test_split(train_all, 0.2, 7, /*stratify=*/true);
    data::standard_scaler scaler;
    train = scaler.fit_transform(train);
    val = scaler.transform(val);
    test = scaler.transform(test);
    std::printf("breast cancer: %zu rows x %zu features -> train %zu, validation %zu, test %zu\n", table.rows(),
                table.cols(), train.rows(), val.rows(), test.rows());

    manual_seed(0);
    model_t model;
    model.tail.tail.head.p = 0.2f;  // dropout after the first layer
    optim::adam opt(model, {.lr = 1e-3});
    optim::early_stopping stopper({.patience = 15, .min_delta = 1e-4});
    const std::string best_path = (std::filesystem::temp_directory_path() / "kiln_ch002_best.safetensors").string();
    data::loader<batch, features> loader(train, {.shuffle = true, .seed = 1});

    std::vector<std::int64_t> pred, truth;
    for (int epoch = 1; epoch <= max_epochs; ++epoch) {
        model.train();
        double train_loss = 0;
        for (const auto& b : loader) {
            auto out = model(b.x);
            auto l = loss::bce_with_logits(out, targets(b.y), b.valid);
            opt.zero_grad();
            backward(l);
            opt.step();
            train_loss += l.value().item() * double(b.valid);
        }
        model.eval_mode();
        const double val_loss = evaluate(model, val, pred, truth);
        const double val_acc = data::accuracy(truth, pred);
        if (epoch == 1 || epoch % 10 == 0)
            std::printf("epoch %3d  train loss %.4f  val loss %.4f  val acc %.4f\n", epoch,
                        train_loss / double(train.rows()), val_loss, val_acc);
        if (stopper.improved_on(val_loss)) io::save(best_path, model);
        if (stopper.stopped()) {
            std::printf("early stop at epoch %d (best val loss %.4f at epoch %zu)\n", epoch, stopper.best(),
                        stopper.best_epoch());
            break;
        }
    }
    io::load(best_path, model);
    std::filesystem::remove(best_path);

    evaluate(model, test, pred, truth);
    const auto cm = data::make_confusion_matrix(truth, pred, data::all_rows, 2);
    const double acc = data::accuracy(cm), prec = data::precision(cm), rec = data::recall(cm);
    std::printf("test: accuracy %.4f  precision %.4f  recall %.4f  f1 %.4f  (%zu rows)\n", acc, prec, rec, data::f1(cm),
                test.rows());
    if (acc < 0.95) {
        std::printf("FAILED: expected test accuracy >= 0.95\n");
        return 1;
    }
    return 0;
}

int main(int argc, char** argv) { return kiln_examples::guarded(argc, argv, run_main); }
