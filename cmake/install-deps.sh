# Sourced by tests/run.sh and examples/run.sh: installs Debian packages that are missing.
install_deps() {
    local pkgs=(cmake ninja-build g++ xtensor-dev libxsimd-dev xtl-dev zlib1g-dev nlohmann-json3-dev)
    case "$1" in
        test) pkgs+=(libgtest-dev python3-sklearn libvulkan-dev glslc mesa-vulkan-drivers vulkan-validationlayers) ;;
        examples) pkgs+=(dataset-fashion-mnist python3-sklearn libvulkan-dev glslc mesa-vulkan-drivers) ;;
        bench) pkgs+=(libbenchmark-dev libopenblas-dev libtorch-dev) ;;
    esac
    local missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "installing: ${missing[*]}"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}
