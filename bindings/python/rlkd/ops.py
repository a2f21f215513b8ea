"""The L1 ops as functions: each allocates its outputs (or writes into
`out=` where given) on the inputs' context and returns them. Backward
functions return the gradients of their inputs in order, None for one not
asked for. Geometry arguments take an int or an (h, w) pair.

    y = rlkd.ops.conv2d(x, w, b, stride=1, padding=1)
    dx, dw, db = rlkd.ops.conv2d_backward(dy, x, w, padding=1)
"""
from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple, Union

from ._core import Tensor
from ._ffi import lib

if TYPE_CHECKING:
    from ._core import DType, Shape

#: A geometry argument (kernel, stride, padding, dilation): an int or an (h, w) pair.
IntPair = Union[int, Sequence[int]]
#: A backward's (dx or None, dweight, dbias or None).
Grads3 = Tuple[Optional[Tensor], Tensor, Optional[Tensor]]


def _pair(value: IntPair) -> Tuple[int, ...]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _handle(tensor: Optional[Tensor]) -> Optional[int]:
    return None if tensor is None else tensor.handle


def _new(like: Tensor, shape: Sequence[int], dtype: Optional[DType] = None) -> Tensor:
    return Tensor.empty(like.context, shape, like._code if dtype is None else dtype)


def _or_new(out: Optional[Tensor], like: Tensor, shape: Sequence[int]) -> Tensor:
    return out if out is not None else _new(like, shape)


def window_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                       dilation: int = 1) -> int:
    """The output length of a sliding window (convolution, pooling)."""
    out = ctypes.c_int64()
    lib.rlkd_window_output_size(ctypes.byref(out), size, kernel, stride, padding, dilation)
    return out.value


def _window_shape(x: Tensor, channels: int, kernel: Sequence[int], stride: Sequence[int],
                  padding: Sequence[int], dilation: Sequence[int] = (1, 1)) -> Shape:
    if x.ndim != 4 or len(kernel) != 2:
        raise ValueError("a windowed op takes x [N,C,H,W] and a 2-D kernel, got x %s and "
                         "kernel %s" % (x.shape, tuple(kernel)))
    return (x.shape[0], channels,
            window_output_size(x.shape[2], kernel[0], stride[0], padding[0], dilation[0]),
            window_output_size(x.shape[3], kernel[1], stride[1], padding[1], dilation[1]))


def _scalar(tensor: Tensor) -> float:
    return float(tensor.numpy()[0])


# --- convolution, linear, normalisation ---------------------------------------

def conv2d(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: IntPair = 1,
           padding: IntPair = 0, dilation: IntPair = 1, groups: int = 1,
           out: Optional[Tensor] = None) -> Tensor:
    """x [N,C,H,W], weight [K,C/groups,R,S], bias [K] or None -> y [N,K,H',W']."""
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    y = _or_new(out, x, _window_shape(x, weight.shape[0], weight.shape[2:], stride, padding,
                                      dilation))
    lib.rlkd_conv2d_forward(x.context.handle, y.handle, x.handle, weight.handle, _handle(bias),
                            *stride, *padding, *dilation, groups)
    return y


def conv2d_backward(dy: Tensor, x: Tensor, weight: Tensor, stride: IntPair = 1,
                    padding: IntPair = 0, dilation: IntPair = 1, groups: int = 1,
                    bias: bool = True, input_grad: bool = True) -> Grads3:
    """-> (dx or None, dweight, dbias or None)."""
    dx = _new(x, x.shape) if input_grad else None
    dw = _new(weight, weight.shape)
    db = _new(weight, (weight.shape[0],)) if bias else None
    lib.rlkd_conv2d_backward(x.context.handle, _handle(dx), dw.handle, _handle(db), dy.handle,
                             x.handle, weight.handle, *_pair(stride), *_pair(padding),
                             *_pair(dilation), groups)
    return dx, dw, db


def linear(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None,
           out: Optional[Tensor] = None) -> Tensor:
    """x [N,F] (or [N,...], flattened), weight [K,F], bias [K] or None -> y [N,K]."""
    if x.ndim < 2 or weight.ndim != 2:
        raise ValueError("linear takes x [N,F...] and weight [K,F], got %s and %s"
                         % (x.shape, weight.shape))
    y = _or_new(out, x, (x.shape[0], weight.shape[0]))
    lib.rlkd_linear_forward(x.context.handle, y.handle, x.handle, weight.handle, _handle(bias))
    return y


def linear_backward(dy: Tensor, x: Tensor, weight: Tensor, bias: bool = True,
                    input_grad: bool = True) -> Grads3:
    """-> (dx or None, dweight, dbias or None)."""
    dx = _new(x, x.shape) if input_grad else None
    dw = _new(weight, weight.shape)
    db = _new(weight, (weight.shape[0],)) if bias else None
    lib.rlkd_linear_backward(x.context.handle, _handle(dx), dw.handle, _handle(db), dy.handle,
                             x.handle, weight.handle)
    return dx, dw, db


def batchnorm2d(x: Tensor, gamma: Tensor, beta: Tensor, running_mean: Optional[Tensor] = None,
                running_var: Optional[Tensor] = None, training: bool = True,
                momentum: float = 0.1, eps: float = 1e-5,
                out: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor]:
    """-> (y, save_mean, save_invstd); training updates the running
    statistics in place (when given), as PyTorch does."""
    y = _or_new(out, x, x.shape)
    save_mean, save_invstd = _new(x, (x.shape[1],)), _new(x, (x.shape[1],))
    lib.rlkd_batchnorm2d_forward(x.context.handle, y.handle, save_mean.handle,
                                 save_invstd.handle, _handle(running_mean),
                                 _handle(running_var), x.handle, gamma.handle, beta.handle,
                                 int(training), momentum, eps)
    return y, save_mean, save_invstd


def batchnorm2d_backward(dy: Tensor, x: Tensor, gamma: Tensor, save_mean: Tensor,
                         save_invstd: Tensor,
                         training: bool = True) -> Tuple[Tensor, Tensor, Tensor]:
    """-> (dx, dgamma, dbeta)."""
    dx, dgamma, dbeta = _new(x, x.shape), _new(gamma, gamma.shape), _new(gamma, gamma.shape)
    lib.rlkd_batchnorm2d_backward(x.context.handle, dx.handle, dgamma.handle, dbeta.handle,
                                  dy.handle, x.handle, gamma.handle, save_mean.handle,
                                  save_invstd.handle, int(training))
    return dx, dgamma, dbeta


# --- activations, pooling, shape ops ------------------------------------------

def relu(x: Tensor, out: Optional[Tensor] = None) -> Tensor:
    y = _or_new(out, x, x.shape)
    lib.rlkd_relu_forward(x.context.handle, y.handle, x.handle)
    return y


def relu_backward(dy: Tensor, y: Tensor) -> Tensor:
    """-> dx (from the forward's output y)."""
    dx = _new(dy, dy.shape)
    lib.rlkd_relu_backward(dy.context.handle, dx.handle, dy.handle, y.handle)
    return dx


def maxpool2d(x: Tensor, kernel: IntPair, stride: Optional[IntPair] = None,
              padding: IntPair = 0, out: Optional[Tensor] = None) -> Tensor:
    kernel, padding = _pair(kernel), _pair(padding)
    stride = kernel if stride is None else _pair(stride)
    y = _or_new(out, x, _window_shape(x, x.shape[1], kernel, stride, padding))
    lib.rlkd_maxpool2d_forward(x.context.handle, y.handle, x.handle, *kernel, *stride, *padding)
    return y


def maxpool2d_backward(dy: Tensor, x: Tensor, kernel: IntPair, stride: Optional[IntPair] = None,
                       padding: IntPair = 0) -> Tensor:
    kernel, padding = _pair(kernel), _pair(padding)
    stride = kernel if stride is None else _pair(stride)
    dx = _new(x, x.shape)
    lib.rlkd_maxpool2d_backward(x.context.handle, dx.handle, dy.handle, x.handle, *kernel,
                                *stride, *padding)
    return dx


def avgpool2d(x: Tensor, kernel: IntPair, stride: Optional[IntPair] = None,
              padding: IntPair = 0, count_include_pad: bool = True,
              out: Optional[Tensor] = None) -> Tensor:
    kernel, padding = _pair(kernel), _pair(padding)
    stride = kernel if stride is None else _pair(stride)
    y = _or_new(out, x, _window_shape(x, x.shape[1], kernel, stride, padding))
    lib.rlkd_avgpool2d_forward(x.context.handle, y.handle, x.handle, *kernel, *stride,
                               *padding, int(count_include_pad))
    return y


def avgpool2d_backward(dy: Tensor, input_shape: Sequence[int], kernel: IntPair,
                       stride: Optional[IntPair] = None, padding: IntPair = 0,
                       count_include_pad: bool = True) -> Tensor:
    """-> dx of shape input_shape."""
    kernel, padding = _pair(kernel), _pair(padding)
    stride = kernel if stride is None else _pair(stride)
    dx = _new(dy, input_shape)
    lib.rlkd_avgpool2d_backward(dy.context.handle, dx.handle, dy.handle, *kernel, *stride,
                                *padding, int(count_include_pad))
    return dx


def global_avgpool(x: Tensor, out: Optional[Tensor] = None) -> Tensor:
    """[N,C,H,W] -> [N,C,1,1]."""
    y = _or_new(out, x, (x.shape[0], x.shape[1], 1, 1))
    lib.rlkd_global_avgpool_forward(x.context.handle, y.handle, x.handle)
    return y


def global_avgpool_backward(dy: Tensor, input_shape: Sequence[int]) -> Tensor:
    dx = _new(dy, input_shape)
    lib.rlkd_global_avgpool_backward(dy.context.handle, dx.handle, dy.handle)
    return dx


def add(a: Tensor, b: Tensor, out: Optional[Tensor] = None) -> Tensor:
    y = _or_new(out, a, a.shape)
    lib.rlkd_add_forward(a.context.handle, y.handle, a.handle, b.handle)
    return y


def add_backward(dy: Tensor) -> Tuple[Tensor, Tensor]:
    """-> (da, db)."""
    da, db = _new(dy, dy.shape), _new(dy, dy.shape)
    lib.rlkd_add_backward(dy.context.handle, da.handle, db.handle, dy.handle)
    return da, db


def concat(inputs: Sequence[Tensor], out: Optional[Tensor] = None) -> Tensor:
    """Concatenates [N,Ci,H,W] tensors along channels."""
    first = inputs[0]
    channels = sum(t.shape[1] for t in inputs)
    y = _or_new(out, first, (first.shape[0], channels) + first.shape[2:])
    handles = (ctypes.c_void_p * len(inputs))(*(t.handle for t in inputs))
    lib.rlkd_concat_forward(first.context.handle, y.handle, handles, len(inputs))
    return y


def concat_backward(dy: Tensor, channels: Sequence[int]) -> List[Tensor]:
    """Splits dy into one gradient per input of `channels` channels."""
    dxs = [_new(dy, (dy.shape[0], c) + dy.shape[2:]) for c in channels]
    handles = (ctypes.c_void_p * len(dxs))(*(t.handle for t in dxs))
    lib.rlkd_concat_backward(dy.context.handle, handles, dy.handle,
                             (ctypes.c_int64 * len(channels))(*channels), len(channels))
    return dxs


def dropout(x: Tensor, p: float, training: bool = True) -> Tuple[Tensor, Tensor]:
    """-> (y, mask); the draw comes from the context's seeded stream."""
    y, mask = _new(x, x.shape), _new(x, x.shape)
    lib.rlkd_dropout_forward(x.context.handle, y.handle, mask.handle, x.handle, p,
                             int(training))
    return y, mask


def dropout_backward(dy: Tensor, mask: Tensor) -> Tensor:
    dx = _new(dy, dy.shape)
    lib.rlkd_dropout_backward(dy.context.handle, dx.handle, dy.handle, mask.handle)
    return dx


def channel_mask(x: Tensor, mask: Tensor, out: Optional[Tensor] = None) -> Tensor:
    """y = x * mask[c] per channel."""
    y = _or_new(out, x, x.shape)
    lib.rlkd_channel_mask_forward(x.context.handle, y.handle, x.handle, mask.handle)
    return y


def channel_mask_backward(dy: Tensor, mask: Tensor) -> Tensor:
    dx = _new(dy, dy.shape)
    lib.rlkd_channel_mask_backward(dy.context.handle, dx.handle, dy.handle, mask.handle)
    return dx


# --- channel attention ----------------------------------------------------------

def se(x: Tensor, w1: Tensor, b1: Optional[Tensor], w2: Tensor, b2: Optional[Tensor],
       out: Optional[Tensor] = None) -> Tensor:
    """Squeeze-and-excitation: x * sigmoid(fc2(relu(fc1(mean_hw(x)))))."""
    y = _or_new(out, x, x.shape)
    lib.rlkd_se_forward(x.context.handle, y.handle, x.handle, w1.handle, _handle(b1), w2.handle,
                        _handle(b2))
    return y


def _grads_like(inputs: Sequence[Optional[Tensor]]) -> List[Optional[Tensor]]:
    """A gradient for each input that is there (None for an absent bias)."""
    return [None if t is None else _new(t, t.shape) for t in inputs]


def se_backward(dy: Tensor, x: Tensor, w1: Tensor, b1: Optional[Tensor], w2: Tensor,
                b2: Optional[Tensor]) -> Tuple[Optional[Tensor], ...]:
    """-> (dx, dw1, db1, dw2, db2); a bias given as None gets None."""
    inputs = (x, w1, b1, w2, b2)
    grads = _grads_like(inputs)
    lib.rlkd_se_backward(x.context.handle, *(_handle(g) for g in grads), dy.handle,
                         *(_handle(t) for t in inputs))
    return tuple(grads)


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """ECA's adaptive 1-D kernel size for `channels`."""
    return lib.rlkd_eca_kernel_size(channels, gamma, b)


def eca(x: Tensor, w: Tensor, out: Optional[Tensor] = None) -> Tensor:
    y = _or_new(out, x, x.shape)
    lib.rlkd_eca_forward(x.context.handle, y.handle, x.handle, w.handle)
    return y


def eca_backward(dy: Tensor, x: Tensor, w: Tensor) -> Tuple[Tensor, Tensor]:
    """-> (dx, dw)."""
    dx, dw = _new(x, x.shape), _new(w, w.shape)
    lib.rlkd_eca_backward(x.context.handle, dx.handle, dw.handle, dy.handle, x.handle, w.handle)
    return dx, dw


def cbam(x: Tensor, w1: Tensor, b1: Optional[Tensor], w2: Tensor, b2: Optional[Tensor],
         ws: Tensor, bs: Optional[Tensor], out: Optional[Tensor] = None) -> Tensor:
    """CBAM: a channel gate (shared MLP on mean and max pools), then a
    spatial gate (a conv over channel mean and max)."""
    y = _or_new(out, x, x.shape)
    lib.rlkd_cbam_forward(x.context.handle, y.handle, x.handle, w1.handle, _handle(b1),
                          w2.handle, _handle(b2), ws.handle, _handle(bs))
    return y


def cbam_backward(dy: Tensor, x: Tensor, w1: Tensor, b1: Optional[Tensor], w2: Tensor,
                  b2: Optional[Tensor], ws: Tensor,
                  bs: Optional[Tensor]) -> Tuple[Optional[Tensor], ...]:
    """-> (dx, dw1, db1, dw2, db2, dws, dbs); a bias given as None gets None."""
    inputs = (x, w1, b1, w2, b2, ws, bs)
    grads = _grads_like(inputs)
    lib.rlkd_cbam_backward(x.context.handle, *(_handle(g) for g in grads), dy.handle,
                           *(_handle(t) for t in inputs))
    return tuple(grads)


# --- losses -----------------------------------------------------------------------

def softmax_cross_entropy(logits: Tensor, labels: Tensor,
                          label_smoothing: float = 0.0) -> Tuple[float, Tensor]:
    """-> (mean loss as a float, dlogits)."""
    loss, dlogits = _new(logits, (1,)), _new(logits, logits.shape)
    lib.rlkd_softmax_cross_entropy_forward(logits.context.handle, loss.handle, dlogits.handle,
                                           logits.handle, labels.handle, label_smoothing)
    return _scalar(loss), dlogits


def softmax_cross_entropy_backward(logits: Tensor, labels: Tensor, label_smoothing: float = 0.0,
                                   dloss: float = 1.0) -> Tensor:
    dlogits = _new(logits, logits.shape)
    lib.rlkd_softmax_cross_entropy_backward(logits.context.handle, dlogits.handle,
                                            logits.handle, labels.handle, label_smoothing,
                                            dloss)
    return dlogits


def kd_loss(student: Tensor, teacher: Tensor, labels: Optional[Tensor] = None,
            alpha: float = 0.9, temperature: float = 4.0) -> Tuple[float, Tensor]:
    """Hinton's distillation loss -> (loss, dstudent); labels may be None
    when alpha is 1."""
    loss, dstudent = _new(student, (1,)), _new(student, student.shape)
    lib.rlkd_kd_loss_forward(student.context.handle, loss.handle, dstudent.handle,
                             student.handle, teacher.handle, _handle(labels), alpha,
                             temperature)
    return _scalar(loss), dstudent


def kd_loss_backward(student: Tensor, teacher: Tensor, labels: Optional[Tensor] = None,
                     alpha: float = 0.9, temperature: float = 4.0,
                     dloss: float = 1.0) -> Tensor:
    dstudent = _new(student, student.shape)
    lib.rlkd_kd_loss_backward(student.context.handle, dstudent.handle, student.handle,
                              teacher.handle, _handle(labels), alpha, temperature, dloss)
    return dstudent


def attention_transfer_loss(student: Tensor, teacher: Tensor) -> Tuple[float, Tensor]:
    """Zagoruyko and Komodakis' attention transfer -> (loss, dstudent)."""
    loss, dstudent = _new(student, (1,)), _new(student, student.shape)
    lib.rlkd_attention_transfer_loss_forward(student.context.handle, loss.handle,
                                             dstudent.handle, student.handle, teacher.handle)
    return _scalar(loss), dstudent


def attention_transfer_loss_backward(student: Tensor, teacher: Tensor,
                                     dloss: float = 1.0) -> Tensor:
    dstudent = _new(student, student.shape)
    lib.rlkd_attention_transfer_loss_backward(student.context.handle, dstudent.handle,
                                              student.handle, teacher.handle, dloss)
    return dstudent


# --- optimiser steps (in place) -------------------------------------------------

def sgd_step(param: Tensor, momentum_buffer: Optional[Tensor], grad: Tensor, lr: float,
             momentum: float = 0.9, weight_decay: float = 0.0, nesterov: bool = False) -> None:
    """One SGD step on `param` in place (momentum_buffer may be None when
    momentum is 0)."""
    lib.rlkd_sgd_step(param.context.handle, param.handle, _handle(momentum_buffer),
                      grad.handle, lr, momentum, weight_decay, int(nesterov))


def adam_step(param: Tensor, m: Tensor, v: Tensor, grad: Tensor, lr: float, step: int,
              beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
              weight_decay: float = 0.0, decoupled: bool = False) -> None:
    """One Adam (decoupled: AdamW) step on `param` in place; `step` counts from 1."""
    lib.rlkd_adam_step(param.context.handle, param.handle, m.handle, v.handle, grad.handle, lr,
                       beta1, beta2, eps, weight_decay, int(decoupled), step)
