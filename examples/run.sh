#!/usr/bin/env bash
# The main job: installs what it needs (Debian 12, as root or with sudo), builds the examples
# and runs them on real data (Fashion-MNIST from Debian's dataset-fashion-mnist).
set -euo pipefail
cd "$(dirname "$0")/.."
source cmake/install-deps.sh
install_deps examples
cmake -S . -B build/examples -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_BUILD_TESTS=OFF "$@"
cmake --build build/examples
build/examples/examples/ch000_cnn_transformer /usr/share/datasets/fashion-mnist 3
build/examples/examples/ch001_full_pipeline /usr/share/datasets/fashion-mnist 5 build/examples/fashion_cnn.safetensors
build/examples/examples/ch002_training_workflow
build/examples/examples/ch003_transformer
build/examples/examples/ch003_chapter_config
build/examples/examples/ch004_api_reference
build/examples/examples/fashion_mnist_softmax /usr/share/datasets/fashion-mnist
