"""A deep fully connected network: forward and backward passes over flat buffers.

Layout (row-major, one example per row): ``Z[l] = A[l-1] @ W[l] + b[l]``, ``A[l] = g(Z[l])``
with ``W[l]`` of shape ``(n[l-1], n[l])``; ``A[0] = X`` of shape ``(m, n_features)``.

Every trainable array (all W, then all b, γ, β) is a view into ONE flat vector ``theta``; their
gradients are views into ONE flat vector ``grad`` with the same layout. The optimiser then updates
the whole network with a few whole-buffer ufunc calls, L2 is one pass over the contiguous weight
section, and a checkpoint is one array. Activations, masks and gradients of a mini-batch live in
a workspace preallocated per batch size, so a training step allocates (almost) nothing.

Batch normalisation (hidden layers only, when on): ``Ẑ = (Z − μ) / √(σ² + ε)``,
``Z̃ = γ ⊙ Ẑ + β``, ``A = g(Z̃)``; the layer has no bias (β does its job). μ, σ² are the batch
statistics while training; predictions use running averages
``μ_run ← 0.9 μ_run + 0.1 μ`` (same for σ², the biased batch variance).

Inverted dropout (hidden layers only, training only): ``D = (U < keep_prob) / keep_prob``,
``A ← A ⊙ D``, so the expected activation is unchanged and prediction needs no rescaling.

L2: cost term ``λ/(2m) Σ‖W‖²`` and gradient ``(λ/m) W``, biases and BN parameters excluded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .activations import Activation, get_activation
from .errors import EngineError
from .initializers import Initializer, get_initializer
from .losses import OutputLoss

Array = NDArray[Any]

BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9
#: Workspaces kept per network; training needs at most three sizes (batch, last batch, dev).
_MAX_WORKSPACES = 8
#: Rows per forward call when predicting (see Network.logits_into).
EVAL_CHUNK = 1024


@dataclass
class Layer:
    """Views of one layer's parameters and gradients (all into the network's flat buffers)."""

    n_in: int
    n_out: int
    batch_norm: bool
    W: Array
    dW: Array
    b: Array | None = None
    db: Array | None = None
    gamma: Array | None = None
    dgamma: Array | None = None
    beta: Array | None = None
    dbeta: Array | None = None
    running_mean: Array | None = None
    running_var: Array | None = None


class _Workspace:
    """Buffers for one batch size m (see Network.forward/backward for their roles)."""

    def __init__(self, net: Network, m: int) -> None:
        dt = net.dtype
        self.m = m
        # column sums as ones @ Z: one BLAS call, faster than a reduction for small arrays
        self.ones = np.ones(m, dtype=dt)
        shapes = [(m, layer.n_out) for layer in net.layers]
        self.z = [np.empty(s, dtype=dt) for s in shapes]
        self.a = [np.empty(s, dtype=dt) for s in shapes]
        self.dz = [np.empty(s, dtype=dt) for s in shapes]
        self.scratch = [np.empty(s, dtype=dt) for s in shapes]
        bn = [layer.batch_norm for layer in net.layers]
        self.zhat = [
            np.empty(s, dtype=dt) if on else None for s, on in zip(shapes, bn, strict=True)
        ]
        self.zt = [np.empty(s, dtype=dt) if on else None for s, on in zip(shapes, bn, strict=True)]
        self.dzraw = [
            np.empty(s, dtype=dt) if on else None for s, on in zip(shapes, bn, strict=True)
        ]
        self.mu = [
            np.empty(s[1], dtype=dt) if on else None for s, on in zip(shapes, bn, strict=True)
        ]
        self.var = [
            np.empty(s[1], dtype=dt) if on else None for s, on in zip(shapes, bn, strict=True)
        ]
        self.inv_std = [
            np.empty(s[1], dtype=dt) if on else None for s, on in zip(shapes, bn, strict=True)
        ]
        # dropout buffers appear on first use: most runs never drop out
        self.mask: list[Array | None] = [None] * len(shapes)
        self.rand: list[Array | None] = [None] * len(shapes)
        self.dropped: list[Array | None] = [None] * len(shapes)
        # filled by forward, read by backward
        self.pre: list[Array] = [self.z[i] for i in range(len(shapes))]
        self.out: list[Array] = [self.a[i] for i in range(len(shapes))]
        self.dropout = False
        self.out_z: Array = self.z[-1]
        self.out_a: Array = self.a[-1]
        self.x: Array = np.empty((0, 0), dtype=dt)

    def dropout_buffers(self, i: int) -> tuple[Array, Array, Array]:
        if self.mask[i] is None:
            shape = self.a[i].shape
            dt = self.a[i].dtype
            self.mask[i] = np.empty(shape, dtype=dt)
            self.rand[i] = np.empty(shape, dtype=dt)
            self.dropped[i] = np.empty(shape, dtype=dt)
        mask, rand, dropped = self.mask[i], self.rand[i], self.dropped[i]
        assert mask is not None and rand is not None and dropped is not None
        return mask, rand, dropped


class Network:
    """A fully connected network with its parameters in one flat buffer.

    ``hidden`` are the hidden widths (possibly empty: logistic/softmax/linear regression);
    ``output`` is the output activation + loss pair (chosen from the dataset task).
    """

    def __init__(
        self,
        n_inputs: int,
        hidden: tuple[int, ...] | list[int],
        n_outputs: int,
        output: OutputLoss,
        *,
        activation: str | Activation = "relu",
        leaky_slope: float = 0.01,
        batch_norm: bool = False,
        dtype: str | np.dtype[Any] | type = np.float32,
    ) -> None:
        # kept so pickling can rebuild the views (pickle would turn each view into a copy)
        self._init_args: dict[str, Any] = {
            "n_inputs": n_inputs,
            "hidden": tuple(hidden),
            "n_outputs": n_outputs,
            "output": output,
            "activation": activation,
            "leaky_slope": leaky_slope,
            "batch_norm": batch_norm,
            "dtype": dtype,
        }
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise EngineError(f"dtype must be float32 or float64, got {self.dtype}", field="dtype")
        self.sizes = [int(n_inputs), *(int(h) for h in hidden), int(n_outputs)]
        if any(n < 1 for n in self.sizes):
            raise EngineError(f"every layer needs at least one unit: {self.sizes}", field="layers")
        self.output = output
        self.activation = (
            activation
            if isinstance(activation, Activation)
            else get_activation(activation, leaky_slope)
        )
        self.batch_norm = bool(batch_norm)
        n_layers = len(self.sizes) - 1
        pairs = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        bn_flags = [self.batch_norm and i < n_layers - 1 for i in range(n_layers)]

        # weights first and contiguous, so L2 is a single pass over theta[:n_weights]
        self.n_weights = sum(n_in * n_out for n_in, n_out in pairs)
        n_other = sum(
            2 * n_out if bn else n_out for (_, n_out), bn in zip(pairs, bn_flags, strict=True)
        )
        self.size = self.n_weights + n_other
        self.theta = np.zeros(self.size, dtype=self.dtype)
        self.grad = np.zeros(self.size, dtype=self.dtype)
        n_bn = sum(n_out for (_, n_out), bn in zip(pairs, bn_flags, strict=True) if bn)
        self.bn_state = np.zeros(2 * n_bn, dtype=self.dtype)
        self._l2_tmp = np.empty(self.n_weights, dtype=self.dtype)

        self.layers: list[Layer] = []
        w_off, o_off, s_off = 0, self.n_weights, 0
        for (n_in, n_out), bn in zip(pairs, bn_flags, strict=True):
            w_sl = slice(w_off, w_off + n_in * n_out)
            layer = Layer(
                n_in,
                n_out,
                bn,
                W=self.theta[w_sl].reshape(n_in, n_out),
                dW=self.grad[w_sl].reshape(n_in, n_out),
            )
            w_off += n_in * n_out
            if bn:
                layer.gamma = self.theta[o_off : o_off + n_out]
                layer.dgamma = self.grad[o_off : o_off + n_out]
                layer.beta = self.theta[o_off + n_out : o_off + 2 * n_out]
                layer.dbeta = self.grad[o_off + n_out : o_off + 2 * n_out]
                o_off += 2 * n_out
                layer.running_mean = self.bn_state[s_off : s_off + n_out]
                layer.running_var = self.bn_state[n_bn + s_off : n_bn + s_off + n_out]
                s_off += n_out
            else:
                layer.b = self.theta[o_off : o_off + n_out]
                layer.db = self.grad[o_off : o_off + n_out]
                o_off += n_out
            self.layers.append(layer)
        self._workspaces: dict[int, _Workspace] = {}
        self._ws: _Workspace | None = None
        self.reset_bn_state()

    def __getstate__(self) -> dict[str, Any]:
        return {"init": self._init_args, "theta": self.theta, "bn_state": self.bn_state}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state["init"])  # type: ignore[misc]
        self.theta[...] = state["theta"]
        self.bn_state[...] = state["bn_state"]

    # -- set-up ---------------------------------------------------------------------------------

    def initialize(self, init: str | Initializer, rng: np.random.Generator) -> None:
        """Draw every W with ``init``; biases and β at 0, γ at 1, BN running stats at (0, 1)."""
        initializer = init if isinstance(init, Initializer) else get_initializer(init)
        self.theta[:] = 0
        for layer in self.layers:
            layer.W[...] = initializer(layer.n_in, layer.n_out, rng)
            if layer.gamma is not None:
                layer.gamma[...] = 1
        self.reset_bn_state()

    def reset_bn_state(self) -> None:
        for layer in self.layers:
            if layer.running_mean is not None and layer.running_var is not None:
                layer.running_mean[...] = 0
                layer.running_var[...] = 1

    def flops_per_example(self) -> int:
        """Multiply-add FLOPs of one training example: 2·Σ n_in·n_out forward, twice that backward."""
        return 6 * self.n_weights

    def parameter_slices(self) -> list[tuple[str, slice]]:
        """Names and theta slices of every parameter array (W1, b1, gamma1, beta1, ...)."""
        out: list[tuple[str, slice]] = []
        for i, layer in enumerate(self.layers, start=1):
            for name in ("W", "b", "gamma", "beta"):
                view = getattr(layer, name)
                if view is None:
                    continue
                start = (
                    view.__array_interface__["data"][0] - self.theta.ctypes.data
                ) // self.dtype.itemsize
                out.append((f"{name}{i}", slice(start, start + view.size)))
        return out

    def _workspace(self, m: int) -> _Workspace:
        ws = self._workspaces.get(m)
        if ws is None:
            if len(self._workspaces) >= _MAX_WORKSPACES:
                self._workspaces.pop(next(iter(self._workspaces)))
            ws = _Workspace(self, m)
            self._workspaces[m] = ws
        return ws

    # -- passes ---------------------------------------------------------------------------------

    def forward(
        self,
        x: Array,
        *,
        train: bool = False,
        rng: np.random.Generator | None = None,
        keep_prob: float = 1.0,
        update_stats: bool = True,
        logits_out: Array | None = None,
    ) -> Array:
        """Output activations A[L] for the rows of ``x`` (a workspace buffer: copy to keep).

        ``train``: BN uses batch statistics (and updates the running ones if ``update_stats``)
        and dropout is applied when ``keep_prob < 1`` (needs ``rng``). ``logits_out``, when given,
        receives Z[L] (the training loop points it into an epoch-wide buffer so the epoch's loss
        and accuracy cost no extra pass).
        """
        if x.dtype != self.dtype or not x.flags.c_contiguous:
            x = np.ascontiguousarray(x, dtype=self.dtype)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise EngineError(
                f"expected input of shape (m, {self.sizes[0]}), got {x.shape}", field="X"
            )
        ws = self._workspace(x.shape[0])
        self._ws = ws
        ws.x = x
        dropout = train and keep_prob < 1.0
        if dropout and rng is None:
            raise EngineError("dropout needs a random generator", field="keep_prob")
        ws.dropout = dropout
        last = len(self.layers) - 1
        a_prev = x
        for i, layer in enumerate(self.layers):
            if i == last:
                z = ws.z[i] if logits_out is None else logits_out
                np.matmul(a_prev, layer.W, out=z)
                assert layer.b is not None
                z += layer.b
                ws.out_z = z
                ws.out_a = self.output.activate(z, ws.a[i])
                return ws.out_a
            z = ws.z[i]
            np.matmul(a_prev, layer.W, out=z)
            if layer.batch_norm:
                pre = self._bn_forward(layer, ws, i, z, train, update_stats)
            else:
                assert layer.b is not None
                z += layer.b
                pre = z
            ws.pre[i] = pre
            a = self.activation.forward(pre, ws.a[i])
            if dropout:
                assert rng is not None
                mask, rand, dropped = ws.dropout_buffers(i)
                rng.random(dtype=self.dtype.type, out=rand)
                np.less(rand, keep_prob, out=mask)
                mask *= 1.0 / keep_prob
                a = np.multiply(a, mask, out=dropped)
            ws.out[i] = a
            a_prev = a
        raise AssertionError(
            "unreachable: a network always has an output layer"
        )  # pragma: no cover

    def _bn_forward(
        self, layer: Layer, ws: _Workspace, i: int, z: Array, train: bool, update_stats: bool
    ) -> Array:
        gamma, beta, zt, zhat = layer.gamma, layer.beta, ws.zt[i], ws.zhat[i]
        rm, rv = layer.running_mean, layer.running_var
        assert gamma is not None and beta is not None and zt is not None and zhat is not None
        assert rm is not None and rv is not None
        if not train:
            scale = gamma / np.sqrt(rv + BN_EPSILON)
            np.multiply(z, scale, out=zt)
            zt += beta - rm * scale
            return zt
        mu, var, inv = ws.mu[i], ws.var[i], ws.inv_std[i]
        assert mu is not None and var is not None and inv is not None
        m = z.shape[0]
        np.matmul(ws.ones, z, out=mu)
        mu *= 1.0 / m
        np.subtract(z, mu, out=zhat)
        sq = ws.scratch[i]
        np.multiply(zhat, zhat, out=sq)
        np.matmul(ws.ones, sq, out=var)
        var *= 1.0 / m
        np.add(var, BN_EPSILON, out=inv)
        np.sqrt(inv, out=inv)
        np.divide(1.0, inv, out=inv)
        zhat *= inv
        np.multiply(zhat, gamma, out=zt)
        zt += beta
        if update_stats:
            rm *= BN_MOMENTUM
            rm += (1.0 - BN_MOMENTUM) * mu
            rv *= BN_MOMENTUM
            rv += (1.0 - BN_MOMENTUM) * var
        return zt

    def backward(self, y: Array, *, l2: float = 0.0, m_total: int | None = None) -> Array:
        """Gradient of the last forward pass's cost w.r.t. theta, written into ``self.grad``.

        The data term is the mean loss over the batch; the L2 term uses ``m_total`` (the
        training-set size; defaults to the batch size) so that λ means the same at every batch
        size and the mini-batch gradient estimates the full-batch one.
        """
        ws = self._ws
        if ws is None:
            raise EngineError("backward() needs a forward() first")
        last = len(self.layers) - 1
        dz = self.output.delta(ws.out_a, y, ws.dz[last])
        for i in range(last, -1, -1):
            layer = self.layers[i]
            a_prev = ws.x if i == 0 else ws.out[i - 1]
            if layer.batch_norm:
                dz = self._bn_backward(layer, ws, i, dz)
            else:
                assert layer.db is not None
                np.matmul(ws.ones, dz, out=layer.db)
            np.matmul(a_prev.T, dz, out=layer.dW)
            if i == 0:
                break
            da = ws.dz[i - 1]
            np.matmul(dz, layer.W.T, out=da)
            if ws.dropout:
                mask = ws.mask[i - 1]
                assert mask is not None
                da *= mask
            # the derivative is taken at the pre-dropout activation ws.a, not the dropped one
            self.activation.backward(da, ws.pre[i - 1], ws.a[i - 1], da, ws.scratch[i - 1])
            dz = da
        if l2 > 0.0:
            m = m_total if m_total is not None else ws.m
            np.multiply(self.theta[: self.n_weights], l2 / m, out=self._l2_tmp)
            self.grad[: self.n_weights] += self._l2_tmp
        return self.grad

    def _bn_backward(self, layer: Layer, ws: _Workspace, i: int, dzt: Array) -> Array:
        """From dZ̃ to dZ: dβ = Σ dZ̃, dγ = Σ dZ̃ ⊙ Ẑ, dZ = γ/√(σ²+ε) · (dZ̃ − dβ/m − Ẑ ⊙ dγ/m)."""
        gamma, dgamma, dbeta = layer.gamma, layer.dgamma, layer.dbeta
        zhat, out, inv = ws.zhat[i], ws.dzraw[i], ws.inv_std[i]
        assert gamma is not None and dgamma is not None and dbeta is not None
        assert zhat is not None and out is not None and inv is not None
        m = dzt.shape[0]
        sq = ws.scratch[i]
        np.matmul(ws.ones, dzt, out=dbeta)
        np.multiply(dzt, zhat, out=sq)
        np.matmul(ws.ones, sq, out=dgamma)
        np.multiply(zhat, dgamma * (1.0 / m), out=sq)
        np.subtract(dzt, dbeta * (1.0 / m), out=out)
        out -= sq
        out *= gamma * inv
        return out

    # -- costs and predictions ----------------------------------------------------------------

    def l2_cost(self, l2: float, m: int) -> float:
        """λ/(2m) Σ‖W‖² over every weight matrix."""
        if l2 == 0.0:
            return 0.0
        w = self.theta[: self.n_weights]
        return float(l2 / (2.0 * m) * np.dot(w, w))

    def cost(self, x: Array, y: Array, *, l2: float = 0.0, m_total: int | None = None) -> float:
        """J(θ) = mean loss + L2 term, with BN on batch statistics and no dropout.

        This is exactly the function ``backward`` differentiates (for gradient checking); it does
        not touch the BN running statistics.
        """
        self.forward(x, train=True, update_stats=False)
        assert self._ws is not None
        m = m_total if m_total is not None else x.shape[0]
        return self.output.loss(self._ws.out_z, y) + self.l2_cost(l2, m)

    def logits_into(self, x: Array, out: Array) -> Array:
        """Z[L] in prediction mode for every row of ``x``, written to ``out`` (m, n_outputs).

        Runs in chunks of EVAL_CHUNK rows: prediction is row by row (BN uses running statistics),
        so chunking changes nothing but keeps the workspace small and cache-resident however
        large the set.
        """
        if x.dtype != self.dtype or not x.flags.c_contiguous:
            x = np.ascontiguousarray(x, dtype=self.dtype)
        for start in range(0, x.shape[0], EVAL_CHUNK):
            stop = start + EVAL_CHUNK
            self.forward(x[start:stop], train=False, logits_out=out[start:stop])
        return out

    def logits(self, x: Array) -> Array:
        """Z[L] in prediction mode (running BN statistics, no dropout); a fresh array."""
        out = np.empty((x.shape[0], self.sizes[-1]), dtype=self.dtype)
        return self.logits_into(x, out)

    def predict_output(self, x: Array) -> Array:
        """A[L] in prediction mode (probabilities, or values for regression); a fresh array."""
        z = self.logits(x)
        return self.output.activate(z, np.empty_like(z))
