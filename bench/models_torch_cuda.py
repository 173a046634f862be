# PyTorch's side of bench/models_vulkan.cpp: the same training steps on CUDA, fp32 with TF32
# off (cuBLAS and cuDNN), the loss read back every step; host-timed like kiln's, median and min.
import statistics, sys, time
import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = torch.device("cuda")
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 30
torch.manual_seed(7)
nn = torch.nn

def run(name, model, x, opt):
    y = torch.randint(10, (64,), device=dev)
    def step():
        opt.zero_grad()
        l = nn.functional.cross_entropy(model(x), y)
        l.backward()
        opt.step()
        return l.item()
    for _ in range(5):
        step()
    ms, loss = [], 0.0
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = step()
        ms.append((time.perf_counter() - t0) * 1e3)
    print(f"{name:4s} {statistics.median(ms):9.3f} {min(ms):9.3f} {loss:9.4f}")

print(f"PyTorch {torch.__version__} CUDA training steps on {torch.cuda.get_device_name()}, batch 64 (ms: median, min of {steps}; final loss)")
mlp = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)).to(dev)
run("mlp", mlp, torch.randn(64, 784, device=dev), torch.optim.SGD(mlp.parameters(), lr=0.01))
cnn = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(64, 128, 3, padding=1),
                    nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8192, 1024), nn.ReLU(), nn.Linear(1024, 10)).to(dev)
run("cnn", cnn, torch.randn(64, 3, 32, 32, device=dev), torch.optim.Adam(cnn.parameters(), lr=1e-3))
