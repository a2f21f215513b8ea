"""Networks (L2): the zoo and the builder, forward and backward, weights on
disk, costs, and channel pruning with compaction."""
from __future__ import annotations

import collections
import ctypes
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ._core import Handle, Tensor
from ._ffi import LayerCost, PruneGroup, ZooOptions, initialized, lib

if TYPE_CHECKING:
    import numpy.typing as npt

    from ._core import Context, PathLike, Pointer

ATTENTION = {"none": 0, "se": 1, "eca": 2, "cbam": 3}
CRITERION = {"l1": 0, "l2": 1, "fpgm": 2, "bn_scale": 3}

#: One layer's output shape and cost, from rlkd_net_layer_cost.
Layer = collections.namedtuple(
    "Layer", "name kind node out_channels out_height out_width params macs")
#: One prunable channel group, from rlkd_net_prune_group: `refusal` says
#: why a group that is not prunable is not (None when it is).
Group = collections.namedtuple("Group", "index name channels kept producers prunable refusal")


def zoo_names() -> List[str]:
    """The names rlkd.Net.zoo accepts."""
    names: List[str]
    names, index = [], 0
    while True:
        name = lib.rlkd_zoo_name(index)
        if name is None:
            return names
        names.append(name.decode())
        index += 1


def _decode(text: Optional[bytes]) -> Optional[str]:
    return None if text is None else text.decode()


class Net(Handle):
    """An rlkd network on a context.

    Build one from the zoo, load one, or build your own layer by layer
    (each builder call returns the new node's index; node 0 is the input):

        net = rlkd.Net.zoo(ctx, "resnet20", attention="se", num_classes=10)
        net = rlkd.Net.load(ctx, "student.safetensors")
        net = rlkd.Net(ctx, (1, 28, 28))
        x = net.conv2d(0, 16, 3, padding=1, name="conv1")
        x = net.relu(net.batchnorm2d(x, name="bn1"))
        net.linear(net.global_avgpool(x), 10, name="fc")

    Tensors the network hands out (forward's output, parameters) are views:
    they stay valid while the network is open and are closed with it.
    """

    context: Context

    def __init__(self, ctx: Context, input_shape: Tuple[int, int, int]) -> None:
        channels, height, width = input_shape
        out = ctypes.c_void_p()
        lib.rlkd_net_create(ctx.handle, channels, height, width, ctypes.byref(out))
        self._own(ctx, out.value)

    def _own(self, ctx: Context, handle: Pointer) -> None:
        self.context = ctx
        self._adopt(handle, lib.rlkd_net_destroy, (ctx,))

    @classmethod
    def _from_handle(cls, ctx: Context, handle: Pointer) -> Net:
        net = cls.__new__(cls)
        net._own(ctx, handle)
        return net

    @classmethod
    def zoo(cls, ctx: Context, name: str, attention: str = "none", **options: Any) -> Net:
        """A zoo network; options are rlkd_zoo_options' fields (num_classes,
        in_channels, in_height, in_width, attention_reduction,
        width_multiplier, densenet_depth, densenet_growth)."""
        opts = initialized(ZooOptions)
        opts.attention = ATTENTION[attention]
        for key, value in options.items():
            if not hasattr(opts, key):
                raise TypeError("Net.zoo: unknown option %r" % key)
            setattr(opts, key, value)
        out = ctypes.c_void_p()
        lib.rlkd_zoo_create(ctx.handle, name.encode(), ctypes.byref(opts), ctypes.byref(out))
        return cls._from_handle(ctx, out.value)

    @classmethod
    def load(cls, ctx: Context, path: PathLike) -> Net:
        """A network (architecture, weights, masks) from rlkd_net_save's file."""
        out = ctypes.c_void_p()
        lib.rlkd_net_load(ctx.handle, str(path).encode(), ctypes.byref(out))
        return cls._from_handle(ctx, out.value)

    def save(self, path: PathLike) -> None:
        """Writes architecture, weights, buffers and masks (safetensors)."""
        lib.rlkd_net_save(self.handle, str(path).encode())

    def load_weights(self, path: PathLike) -> None:
        """Reads weights saved from a network of the same architecture."""
        lib.rlkd_net_load_weights(self.handle, str(path).encode())

    # --- the builder ------------------------------------------------------------

    def _add(self, function: Callable[..., Any], name: Optional[str], *args: Any) -> int:
        node = ctypes.c_int()
        function(self.handle, ctypes.byref(node), None if name is None else name.encode(), *args)
        return node.value

    def conv2d(self, input: int, out_channels: int, kernel: int, stride: int = 1,
               padding: int = 0, dilation: int = 1, groups: int = 1, bias: bool = True,
               name: Optional[str] = None) -> int:
        return self._add(lib.rlkd_net_add_conv2d, name, input, out_channels, kernel, stride,
                         padding, dilation, groups, int(bias))

    def batchnorm2d(self, input: int, eps: float = 1e-5, momentum: float = 0.1,
                    name: Optional[str] = None) -> int:
        return self._add(lib.rlkd_net_add_batchnorm2d, name, input, eps, momentum)

    def relu(self, input: int, name: Optional[str] = None) -> int:
        return self._add(lib.rlkd_net_add_relu, name, input)

    def maxpool2d(self, input: int, kernel: int, stride: Optional[int] = None,
                  padding: int = 0, name: Optional[str] = None) -> int:
        return self._add(lib.rlkd_net_add_maxpool2d, name, input, kernel,
                         kernel if stride is None else stride, padding)

    def avgpool2d(self, input: int, kernel: int, stride: Optional[int] = None,
                  padding: int = 0, count_include_pad: bool = True,
                  name: Optional[str] = None) -> int:
        return self._add(lib.rlkd_net_add_avgpool2d, name, input, kernel,
                         kernel if stride is None else stride, padding, int(count_include_pad))

    def global_avgpool(self, input: int, name: Optional[str] = None) -> int:
        return self._add(lib.rlkd_net_add_global_avgpool, name, input)

    def linear(self, input: int, out_features: int, bias: bool = True,
               name: Optional[str] = None) -> int:
        return self._add(lib.rlkd_net_add_linear, name, input, out_features, int(bias))

    def dropout(self, input: int, p: float, name: Optional[str] = None) -> int:
        return self._add(lib.rlkd_net_add_dropout, name, input, p)

    def add(self, a: int, b: int, name: Optional[str] = None) -> int:
        return self._add(lib.rlkd_net_add_add, name, a, b)

    def concat(self, inputs: Sequence[int], name: Optional[str] = None) -> int:
        return self._add(lib.rlkd_net_add_concat, name, (ctypes.c_int * len(inputs))(*inputs),
                         len(inputs))

    def se(self, input: int, reduction: int = 16, name: Optional[str] = None) -> int:
        return self._add(lib.rlkd_net_add_se, name, input, reduction)

    def eca(self, input: int, kernel: int = 0, name: Optional[str] = None) -> int:
        """kernel 0: ECA's adaptive size for the channel count."""
        return self._add(lib.rlkd_net_add_eca, name, input, kernel)

    def cbam(self, input: int, reduction: int = 16, kernel: int = 7,
             name: Optional[str] = None) -> int:
        return self._add(lib.rlkd_net_add_cbam, name, input, reduction, kernel)

    # --- running -----------------------------------------------------------------

    def forward(self, images: Tensor, training: bool = False) -> Tensor:
        """The output (a view, valid until the next forward)."""
        out = ctypes.c_void_p()
        lib.rlkd_net_forward(self.handle, images.handle, int(training), ctypes.byref(out))
        # The network reads its input again in backward: keep it alive until then.
        self._input = images
        return Tensor._from_handle(out.value, self)

    __call__ = forward

    def backward(self, doutput: Tensor, dinput: Optional[Tensor] = None,
                 node_grads: Optional[Dict[int, Tensor]] = None) -> None:
        """Accumulates parameter gradients from d loss / d output (and, with
        node_grads {node: gradient}, gradients injected at inner nodes);
        writes d loss / d input into dinput when given."""
        if not node_grads:
            lib.rlkd_net_backward(self.handle, doutput.handle,
                                  None if dinput is None else dinput.handle)
            return
        nodes = (ctypes.c_int * len(node_grads))(*node_grads.keys())
        grads = (ctypes.c_void_p * len(node_grads))(*(g.handle for g in node_grads.values()))
        lib.rlkd_net_backward_nodes(self.handle, doutput.handle,
                                    None if dinput is None else dinput.handle, nodes, grads,
                                    len(node_grads))

    def zero_grad(self) -> None:
        lib.rlkd_net_zero_grad(self.handle)

    # --- contents ----------------------------------------------------------------

    def _count(self, function: Callable[..., Any]) -> int:
        count = ctypes.c_int()
        function(self.handle, ctypes.byref(count))
        return count.value

    def parameters(self) -> Dict[str, Tensor]:
        """{name: value} of the trainable tensors (views)."""
        return {name: value for name, value, _ in self._params()}

    def gradients(self) -> Dict[str, Tensor]:
        """{name: gradient} (views), as the last backward left them."""
        return {name: grad for name, _, grad in self._params()}

    def _params(self) -> List[Tuple[str, Tensor, Tensor]]:
        out = []
        for i in range(self._count(lib.rlkd_net_param_count)):
            name, value, grad = ctypes.c_char_p(), ctypes.c_void_p(), ctypes.c_void_p()
            lib.rlkd_net_param(self.handle, i, ctypes.byref(name), ctypes.byref(value),
                               ctypes.byref(grad))
            out.append((name.value.decode(), Tensor._from_handle(value.value, self),
                        Tensor._from_handle(grad.value, self)))
        return out

    def buffers(self) -> Dict[str, Tensor]:
        """{name: value} of the non-trainable state (batch-norm statistics)."""
        out = {}
        for i in range(self._count(lib.rlkd_net_buffer_count)):
            name, value = ctypes.c_char_p(), ctypes.c_void_p()
            lib.rlkd_net_buffer(self.handle, i, ctypes.byref(name), ctypes.byref(value))
            out[name.value.decode()] = Tensor._from_handle(value.value, self)
        return out

    def state_dict(self) -> Dict[str, np.ndarray]:
        """{name: NumPy copy} of parameters and buffers (as safetensors holds them)."""
        tensors = dict(self.parameters(), **self.buffers())
        return {name: tensor.numpy() for name, tensor in tensors.items()}

    def find(self, name: str) -> Tensor:
        """The parameter or buffer called `name` (a view)."""
        out = ctypes.c_void_p()
        lib.rlkd_net_find(self.handle, name.encode(), ctypes.byref(out))
        return Tensor._from_handle(out.value, self)

    @property
    def node_count(self) -> int:
        return self._count(lib.rlkd_net_node_count)

    def node_shape(self, node: int) -> Tuple[int, int, int]:
        """(channels, height, width) of a node's output."""
        c, h, w = ctypes.c_int64(), ctypes.c_int64(), ctypes.c_int64()
        lib.rlkd_net_node_shape(self.handle, node, ctypes.byref(c), ctypes.byref(h),
                                ctypes.byref(w))
        return c.value, h.value, w.value

    def node_value(self, node: int) -> Tensor:
        """A node's tensor from the last forward (a view)."""
        out = ctypes.c_void_p()
        lib.rlkd_net_node_value(self.handle, node, ctypes.byref(out))
        return Tensor._from_handle(out.value, self)

    # --- cost ----------------------------------------------------------------------

    def layers(self) -> List[Layer]:
        """[Layer] with each layer's output shape, parameters and MACs per image."""
        out = []
        for i in range(self._count(lib.rlkd_net_layer_count)):
            cost = initialized(LayerCost)
            lib.rlkd_net_layer_cost(self.handle, i, ctypes.byref(cost))
            out.append(Layer(cost.name.decode(), cost.kind.decode(), cost.node,
                             cost.out_channels, cost.out_height, cost.out_width, cost.params,
                             cost.macs))
        return out

    def cost(self) -> Tuple[int, int]:
        """(parameters, MACs per image), counting only kept channels of a
        pruned network."""
        params, macs = ctypes.c_int64(), ctypes.c_int64()
        lib.rlkd_net_cost(self.handle, ctypes.byref(params), ctypes.byref(macs))
        return params.value, macs.value

    @property
    def flops(self) -> int:
        """FLOPs per image: 2 x MACs."""
        return 2 * self.cost()[1]

    # --- pruning ---------------------------------------------------------------------

    def prune_groups(self) -> List[Group]:
        """[Group]: the channel groups pruning acts on (channels that must
        go together, e.g. across a residual addition)."""
        return [self.prune_group(i)
                for i in range(self._count(lib.rlkd_net_prune_group_count))]

    def prune_group(self, index: int) -> Group:
        """One channel group (rlkd_net_prune_group)."""
        group = initialized(PruneGroup)
        lib.rlkd_net_prune_group(self.handle, index, ctypes.byref(group))
        return Group(index, group.name.decode(), group.channels, group.kept, group.producers,
                     bool(group.prunable), _decode(group.refusal))

    def set_prunable(self, group: int, prunable: bool) -> None:
        lib.rlkd_net_prune_set_prunable(self.handle, group, int(prunable))

    def set_mask(self, group: int, keep: npt.ArrayLike) -> None:
        """Keeps the channels where `keep` (one entry per channel) is true."""
        keep = np.ascontiguousarray(keep, dtype=np.uint8)
        lib.rlkd_net_prune_set_mask(self.handle, group,
                                    keep.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)),
                                    keep.size)

    def get_mask(self, group: int) -> np.ndarray:
        """A bool array, True for kept channels."""
        keep = np.zeros(self.prune_group(group).channels, dtype=np.uint8)
        lib.rlkd_net_prune_get_mask(self.handle, group,
                                    keep.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)),
                                    keep.size)
        return keep.astype(bool)

    def prune_scores(self, group: int, criterion: str = "l1") -> np.ndarray:
        """Each channel's importance under `criterion` (l1, l2, fpgm, bn_scale)."""
        scores = np.zeros(self.prune_group(group).channels, dtype=np.float32)
        lib.rlkd_net_prune_scores(self.handle, group, CRITERION[criterion],
                                  scores.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                  scores.size)
        return scores

    def prune_keep(self, group: int, keep: int, criterion: str = "l1") -> None:
        """Keeps the `keep` most important channels of a group."""
        lib.rlkd_net_prune_keep(self.handle, group, keep, CRITERION[criterion])

    def prune_clear(self) -> None:
        """Removes every mask."""
        lib.rlkd_net_prune_clear(self.handle)

    def prune_uniform(self, macs_fraction: float, criterion: str = "l1") -> float:
        """The same share of every prunable group, chosen so that the network
        keeps about macs_fraction of its MACs; returns the share kept."""
        kept = ctypes.c_double()
        lib.rlkd_net_prune_uniform(self.handle, macs_fraction, CRITERION[criterion],
                                   ctypes.byref(kept))
        return kept.value

    def prune_soft(self, keep_fraction: float, criterion: str = "l1") -> None:
        """Soft filter pruning's step: zeroes the weakest filters (they may recover)."""
        lib.rlkd_net_prune_soft(self.handle, keep_fraction, CRITERION[criterion])

    def prune_slimming(self, macs_fraction: float) -> float:
        """Network slimming: masks channels by global BN-scale threshold to
        about macs_fraction of the MACs; returns the threshold."""
        threshold = ctypes.c_double()
        lib.rlkd_net_prune_slimming(self.handle, macs_fraction, ctypes.byref(threshold))
        return threshold.value

    def compact(self) -> Net:
        """A new, smaller network without the masked channels, computing the
        same function; this one is unchanged."""
        out = ctypes.c_void_p()
        lib.rlkd_net_prune_compact(self.handle, ctypes.byref(out))
        return Net._from_handle(self.context, out.value)
