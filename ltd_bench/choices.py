"""Every named choice a config makes, with one line of meaning each: the one list that config
validation (its allowed values), `ltd-bench ls` and the implementations share. An implementation
registers against these names (registry.Registry(declared=...)); a test checks that each is implemented."""

from __future__ import annotations

MODELS = {
    "rnn": "vanilla RNN (tanh or relu), PyTorch's fused nn.RNN (hand-written BPTT on the CPU)",
    "lstm": "LSTM with a configurable forget-gate bias, fused nn.LSTM kernel",
    "gru": "GRU, fused nn.GRU kernel (Ω via a batched VJP: not in the paper)",
    "orthogonal": "vanilla RNN with W_hh kept orthogonal (expRNN, Lezcano-Casado & Martínez-Rubio 2019): docs/orthogonal.md",
}
GATES = {"rnn": 1, "gru": 3, "lstm": 4, "orthogonal": 1}  # gate blocks stacked in PyTorch's weight matrices
NONLINEARITIES = {
    "tanh": "h_t = tanh(W_hh h_{t-1} + W_ih x_t + b): the paper's main setting",
    "relu": "h_t = max(0, ...): with the identity init this is the IRNN (Le et al. 2015)",
    "sigmoid": "h_t = σ(...): the paper's third setting (with the sigmoid init); no fused kernel",
    "modrelu": "h_t = sign(a_t)·max(0, |a_t| + b), b learned (Arjovsky et al. 2016; expRNN): orthogonal only",
}
INITS = {
    "default": "PyTorch's U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias; orthogonal model: henaff",
    "orthogonal": "orthogonal W_hh (Saxe et al. 2014), default elsewhere, zero biases",
    "identity": "IRNN (Le et al. 2015): W_hh = I, W_ih ~ N(0, 0.001), zero biases; use with relu. Orthogonal model: A = 0",
    "smart_tanh": "Pascanu et al. 2013 code: N(0, 0.01) weights, W_hh sparse (15 per unit) at spectral radius 0.95",
    "basic_tanh": "Pascanu et al. 2013 code: every weight N(0, 0.1), zero biases",
    "sigmoid": "Pascanu et al. 2013 code's sigmoid setting: every weight N(0, 0.01), zero biases",
    "henaff": "orthogonal only: W_hh = exp(A), A of 2x2 blocks with angles U(-π, π) (Henaff et al. 2016; expRNN)",
    "cayley": "orthogonal only: A of 2x2 blocks -tan(θ/2), θ ~ U(0, π/2) (Helfrich et al. 2018; expRNN)",
}
RNN_ONLY_INITS = ("identity", "smart_tanh", "basic_tanh", "sigmoid")  # written for one H x H recurrent matrix
# the orthogonal model's inits: the skew-symmetric A of W_hh = exp(A) (default: henaff, expRNN's default;
# identity: A = 0, W_hh = I); its other weights are always expRNN's (orthogonal.py)
ORTHOGONAL_INITS = ("default", "henaff", "cayley", "identity")
ORTHOGONAL_NONLINEARITIES = ("tanh", "relu", "modrelu")
ORTHOGONAL_MAPS = {
    "matrix_exp": "W_hh = exp(A), A skew-symmetric: expRNN (Lezcano-Casado & Martínez-Rubio 2019)",
    "cayley": "W_hh = (I - A/2)^-1 (I + A/2): PyTorch's Cayley transform (expRNN's: (I + A)^-1 (I - A))",
}
OPTIMIZERS = {
    "sgd": "SGD with optional momentum (Pascanu et al. 2013: plain SGD, lr 0.01)",
    "adam": "Adam (Kingma & Ba 2015); the usual choice for LSTMs",
    "rmsprop": "RMSProp (Tieleman & Hinton 2012), with momentum",
}
CLIPPING = {
    "none": "no clipping; the pre-clip norm is still logged",
    "value": "element-wise: each gradient component clipped to [-v, v] (Mikolov 2012)",
    "norm": "global L2 norm over all parameters: if ‖g‖ > v then g ← v g/‖g‖ (Pascanu et al. 2013, Alg. 1)",
}
NONFINITE = {
    "skip": "a NaN/Inf gradient skips the update (counted in nonfinite_steps)",
    "shrink": "Pascanu et al. 2013 code: the update becomes 0.02·W_hh on W_hh alone",
    "random_step": "Goodfellow et al. §10.11: a random step of norm v (the clipping threshold; on A's read entries)",
}
OMEGA_FORMS = {
    "book": "Σ_t (‖g_t J_t‖/‖g_t‖ − 1)², summed over t, averaged over the batch (Goodfellow et al. §10.11)",
    "pascanu2013": "mean over (t, b) of (‖g_t J_t‖²/‖g_t‖² − 1)² (Pascanu et al. 2013 code)",
}
SCHEDULES = {
    "constant": "α at every step",
    "inverse_t": "α / (1 + step/decay_steps)",
}
DEVICES = {
    "cpu": "one or more CPU threads (train.threads)",
    "cuda": "the current CUDA device (an error where there is none)",
    "auto": "cuda where available, else cpu",
}
