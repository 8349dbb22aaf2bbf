import torch

# Tiny networks: one thread is fastest, and the suite shares 2 cores with others.
torch.set_num_threads(1)
