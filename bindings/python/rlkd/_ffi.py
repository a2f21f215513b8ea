"""The C ABI as ctypes sees it, in one place: where librlkd is found, the
structs of include/rlkd.h, and the argument and result types of every
function the package calls. A function that returns an rlkd_status raises
rlkd.Error when it fails, so no caller can forget a check.

Nothing here is public API: the modules next to it wrap these calls in
Python classes.
"""
import ctypes
import os

#: The major version of the C ABI this package was written for (RLKD_VERSION_MAJOR).
ABI_MAJOR = 0
_SONAME = "librlkd.so.%d" % ABI_MAJOR



class Error(RuntimeError):
    """A failed rlkd call. `status` is the rlkd_status code (an int),
    `status_name` its name without the prefix (e.g. "SHAPE" for
    RLKD_ERR_SHAPE), `function` the C function, and the message is
    rlkd_last_error()'s."""

    def __init__(self, status, status_name, function, message):
        self.status, self.status_name, self.function = status, status_name, function
        if not message.startswith(function):
            message = "%s: %s" % (function, message)
        super().__init__("%s (%s)" % (message, status_name))


# Short names for the table below.
_void = None
_int, _uint, _i64, _u64 = ctypes.c_int, ctypes.c_uint, ctypes.c_int64, ctypes.c_uint64
_f32, _f64, _size, _str = ctypes.c_float, ctypes.c_double, ctypes.c_size_t, ctypes.c_char_p
_ptr = ctypes.c_void_p  # any handle (rlkd_context *, rlkd_tensor *, ...) or raw buffer
_ptr_out = ctypes.POINTER(ctypes.c_void_p)  # rlkd_xxx **out
_int_p, _i64_p = ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int64)
_f32_p, _f64_p = ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_double)
_u8_p, _u64_p = ctypes.POINTER(ctypes.c_uint8), ctypes.POINTER(ctypes.c_uint64)
_str_out = ctypes.POINTER(ctypes.c_char_p)
_status = "status"  # an rlkd_status result: checked, raises Error


# --- structs (field for field as in include/rlkd.h) -------------------------

def _struct(name, fields, doc):
    return type(name, (ctypes.Structure,), {"_fields_": fields, "__doc__": doc})


ZooOptions = _struct("ZooOptions", [
    ("struct_size", _size), ("num_classes", _int), ("in_channels", _int),
    ("in_height", _int), ("in_width", _int), ("attention", _int),
    ("attention_reduction", _int), ("width_multiplier", _f32),
    ("densenet_depth", _int), ("densenet_growth", _int)], "rlkd_zoo_options")

LayerCost = _struct("LayerCost", [
    ("struct_size", _size), ("name", _str), ("kind", _str), ("node", _int),
    ("out_channels", _i64), ("out_height", _i64), ("out_width", _i64),
    ("params", _i64), ("macs", _i64)], "rlkd_layer_cost")

PruneGroup = _struct("PruneGroup", [
    ("struct_size", _size), ("name", _str), ("channels", _int), ("kept", _int),
    ("producers", _int), ("prunable", _int), ("refusal", _str)], "rlkd_prune_group")

LoaderOptions = _struct("LoaderOptions", [
    ("struct_size", _size), ("batch_size", _int), ("shuffle", _int), ("drop_last", _int),
    ("seed", _u64), ("crop_padding", _int), ("horizontal_flip", _int),
    ("mean", _f32 * 4), ("std", _f32 * 4), ("crop_size", _int),
    ("random_resized_crop", _int), ("resize_size", _int), ("scale_min", _f32),
    ("scale_max", _f32), ("ratio_min", _f32), ("ratio_max", _f32), ("workers", _int),
    ("prefetch", _int), ("decode_device", _int)], "rlkd_loader_options")

FolderOptions = _struct("FolderOptions", [
    ("struct_size", _size), ("bad_files", _int), ("verify", _int)], "rlkd_folder_options")

OptimizerOptions = _struct("OptimizerOptions", [
    ("struct_size", _size), ("kind", _int), ("momentum", _f32), ("nesterov", _int),
    ("weight_decay", _f32), ("no_decay_bn_bias", _int), ("beta1", _f32), ("beta2", _f32),
    ("eps", _f32)], "rlkd_optimizer_options")

Schedule = _struct("Schedule", [
    ("struct_size", _size), ("kind", _int), ("base_lr", _f32), ("final_lr", _f32),
    ("gamma", _f32), ("step_epochs", _int), ("milestones", _int * 8),
    ("milestone_count", _int), ("warmup_epochs", _f32), ("total_epochs", _int)],
    "rlkd_schedule")

Progress = _struct("Progress", [
    ("struct_size", _size), ("evaluating", _int), ("epoch", _i64), ("epochs", _i64),
    ("step", _i64), ("steps", _i64), ("loss", _f64), ("accuracy", _f64),
    ("images_per_second", _f64), ("eta_seconds", _f64), ("lr", _f32)], "rlkd_progress")

PROGRESS_FN = ctypes.CFUNCTYPE(None, ctypes.POINTER(Progress), _ptr)

TrainerOptions = _struct("TrainerOptions", [
    ("struct_size", _size), ("epochs", _int), ("optimizer", OptimizerOptions),
    ("schedule", Schedule), ("label_smoothing", _f32), ("kd_alpha", _f32),
    ("kd_temperature", _f32), ("at_beta", _f32), ("at_pairs", (_int * 2) * 8),
    ("at_pair_count", _int), ("checkpoint_path", _str), ("progress", PROGRESS_FN),
    ("progress_user", _ptr), ("progress_every", _int), ("sfp_keep_fraction", _f32),
    ("bn_l1", _f32)], "rlkd_trainer_options")

SearchLayer = _struct("SearchLayer", [
    ("struct_size", _size), ("name", _str), ("channels", _int), ("in_channels", _int),
    ("kernel", _int), ("stride", _int), ("kind", _int), ("params", _i64), ("macs", _i64)],
    "rlkd_search_layer")

SearchEpisode = _struct("SearchEpisode", [
    ("struct_size", _size), ("episode", _i64), ("episodes", _i64), ("warmup", _int),
    ("layers", _int), ("keep", _int_p), ("ratios", _f64_p), ("macs", _i64),
    ("macs_before", _i64), ("score", _f64), ("accuracy", _f64), ("reward", _f64),
    ("best_reward", _f64), ("sigma", _f64), ("seconds", _f64)], "rlkd_search_episode")

SEARCH_PROGRESS_FN = ctypes.CFUNCTYPE(None, ctypes.POINTER(SearchEpisode), _ptr)
SEARCH_COST_FN = ctypes.CFUNCTYPE(_int, _ptr, _int_p, _int, _i64_p)
SEARCH_SCORE_FN = ctypes.CFUNCTYPE(_int, _ptr, _int_p, _f64_p, _int, _f64_p, _f64_p)

SearchOptions = _struct("SearchOptions", [
    ("struct_size", _size), ("macs_fraction", _f64), ("lbound", _f64), ("rbound", _f64),
    ("round_to", _int), ("fill_budget", _int), ("episodes", _int),
    ("warmup_episodes", _int), ("hidden1", _int), ("hidden2", _int),
    ("actor_lr", _f32), ("critic_lr", _f32), ("tau", _f32), ("discount", _f32),
    ("buffer_size", _int), ("batch_size", _int), ("sigma", _f32), ("sigma_decay", _f32),
    ("baseline_alpha", _f32), ("reward", _int), ("reward_scaling", _int), ("seed", _u64),
    ("log_path", _str), ("state_path", _str), ("save_every", _int), ("policy_path", _str),
    ("progress", SEARCH_PROGRESS_FN), ("progress_user", _ptr)], "rlkd_search_options")

NetEnvOptions = _struct("NetEnvOptions", [
    ("struct_size", _size), ("criterion", _int), ("recalibrate_batches", _int),
    ("teacher_weight", _f64), ("max_images", _i64)], "rlkd_net_env_options")

COMPRESS_STAGE_FN = ctypes.CFUNCTYPE(None, _int, _int, _ptr)

CompressOptions = _struct("CompressOptions", [
    ("struct_size", _size), ("method", _int), ("distill_epochs", _int),
    ("finetune_epochs", _int), ("distill_lr", _f32), ("finetune_lr", _f32),
    ("train", TrainerOptions), ("search", SearchOptions), ("env", NetEnvOptions),
    ("rlkd_defaults", _int), ("criterion", _int), ("stage", COMPRESS_STAGE_FN),
    ("stage_user", _ptr), ("comm", _ptr), ("parallel", _ptr)], "rlkd_compress_options")

CompressReport = _struct("CompressReport", [
    ("struct_size", _size), ("student_top1", _f64), ("top1", _f64), ("top5", _f64),
    ("params_before", _i64), ("macs_before", _i64), ("params", _i64), ("macs", _i64),
    ("search_reward", _f64), ("kept_fraction", _f64), ("episodes", _i64),
    ("seconds", _f64 * 5)], "rlkd_compress_report")

CommOptions = _struct("CommOptions", [
    ("struct_size", _size), ("rank", _int), ("world_size", _int), ("local_rank", _int),
    ("rendezvous", _str), ("backend", _int), ("timeout_ms", _int)], "rlkd_comm_options")

ParallelOptions = _struct("ParallelOptions", [
    ("struct_size", _size), ("sync_batchnorm", _int), ("bucket_bytes", _size)],
    "rlkd_parallel_options")

_zoo_p, _cost_p = ctypes.POINTER(ZooOptions), ctypes.POINTER(LayerCost)
_group_p, _loader_p = ctypes.POINTER(PruneGroup), ctypes.POINTER(LoaderOptions)
_folder_p = ctypes.POINTER(FolderOptions)
_optim_p, _sched_p = ctypes.POINTER(OptimizerOptions), ctypes.POINTER(Schedule)
_trainer_p, _layer_p = ctypes.POINTER(TrainerOptions), ctypes.POINTER(SearchLayer)
_search_p, _env_p = ctypes.POINTER(SearchOptions), ctypes.POINTER(NetEnvOptions)
_compress_p, _report_p = ctypes.POINTER(CompressOptions), ctypes.POINTER(CompressReport)
_comm_p, _parallel_p = ctypes.POINTER(CommOptions), ctypes.POINTER(ParallelOptions)

#: Every C function the package calls: name -> (result type, argument types).
#: Geometry arguments of the ops (strides, pads, ...) are C ints.
SIGNATURES = {
    # L0: library, contexts, tensors
    "rlkd_version_number": (_uint, []),
    "rlkd_version_string": (_str, []),
    "rlkd_build_features": (_uint, []),
    "rlkd_status_string": (_str, [_int]),
    "rlkd_last_error": (_str, []),
    "rlkd_context_create": (_status, [_ptr_out, _int, _int]),
    "rlkd_context_destroy": (_void, [_ptr]),
    "rlkd_context_device": (_status, [_ptr, _int_p, _int_p]),
    "rlkd_context_set_seed": (_status, [_ptr, _u64]),
    "rlkd_context_get_seed": (_status, [_ptr, _u64_p]),
    "rlkd_context_set_num_threads": (_status, [_ptr, _int]),
    "rlkd_context_get_num_threads": (_status, [_ptr, _int_p]),
    "rlkd_context_set_cuda_stream": (_status, [_ptr, _ptr]),
    "rlkd_context_set_engine": (_status, [_ptr, _int]),
    "rlkd_context_get_engine": (_status, [_ptr, _int_p]),
    "rlkd_context_set_math": (_status, [_ptr, _int]),
    "rlkd_context_get_math": (_status, [_ptr, _int_p]),
    "rlkd_context_synchronize": (_status, [_ptr]),
    "rlkd_tensor_create": (_status, [_ptr, _int, _int, _i64_p, _ptr_out]),
    "rlkd_tensor_wrap": (_status, [_ptr, _int, _int, _i64_p, _ptr, _ptr_out]),
    "rlkd_tensor_destroy": (_void, [_ptr]),
    "rlkd_tensor_write": (_status, [_ptr, _ptr, _size]),
    "rlkd_tensor_read": (_status, [_ptr, _ptr, _size]),
    "rlkd_tensor_write_i32": (_status, [_ptr, _ptr, _size]),
    "rlkd_tensor_read_i32": (_status, [_ptr, _ptr, _size]),
    "rlkd_tensor_fill": (_status, [_ptr, _f32]),
    "rlkd_tensor_fill_uniform": (_status, [_ptr, _f32, _f32]),
    "rlkd_tensor_fill_normal": (_status, [_ptr, _f32, _f32]),
    "rlkd_tensor_ndim": (_int, [_ptr]),
    "rlkd_tensor_dim": (_i64, [_ptr, _int]),
    "rlkd_tensor_shape": (_status, [_ptr, _i64_p, _int]),
    "rlkd_tensor_numel": (_i64, [_ptr]),
    "rlkd_tensor_dtype": (_int, [_ptr]),
    "rlkd_tensor_data": (_ptr, [_ptr]),
    "rlkd_tensor_context": (_ptr, [_ptr]),
    "rlkd_tensor_reshape": (_status, [_ptr, _int, _i64_p]),
    "rlkd_tensor_from_dlpack": (_status, [_ptr, _ptr, _ptr_out]),
    "rlkd_tensor_to_dlpack": (_status, [_ptr, _ptr_out]),
    # L1: ops
    "rlkd_window_output_size": (_status, [_i64_p, _i64, _int, _int, _int, _int]),
    "rlkd_conv2d_forward": (_status, [_ptr] * 5 + [_int] * 7),
    "rlkd_conv2d_backward": (_status, [_ptr] * 7 + [_int] * 7),
    "rlkd_batchnorm2d_forward": (_status, [_ptr] * 9 + [_int, _f32, _f32]),
    "rlkd_batchnorm2d_backward": (_status, [_ptr] * 9 + [_int]),
    "rlkd_relu_forward": (_status, [_ptr] * 3),
    "rlkd_relu_backward": (_status, [_ptr] * 4),
    "rlkd_maxpool2d_forward": (_status, [_ptr] * 3 + [_int] * 6),
    "rlkd_maxpool2d_backward": (_status, [_ptr] * 4 + [_int] * 6),
    "rlkd_avgpool2d_forward": (_status, [_ptr] * 3 + [_int] * 7),
    "rlkd_avgpool2d_backward": (_status, [_ptr] * 3 + [_int] * 7),
    "rlkd_global_avgpool_forward": (_status, [_ptr] * 3),
    "rlkd_global_avgpool_backward": (_status, [_ptr] * 3),
    "rlkd_linear_forward": (_status, [_ptr] * 5),
    "rlkd_linear_backward": (_status, [_ptr] * 7),
    "rlkd_add_forward": (_status, [_ptr] * 4),
    "rlkd_add_backward": (_status, [_ptr] * 4),
    "rlkd_concat_forward": (_status, [_ptr, _ptr, _ptr, _int]),
    "rlkd_concat_backward": (_status, [_ptr, _ptr, _ptr, _i64_p, _int]),
    "rlkd_dropout_forward": (_status, [_ptr] * 4 + [_f32, _int]),
    "rlkd_dropout_backward": (_status, [_ptr] * 4),
    "rlkd_softmax_cross_entropy_forward": (_status, [_ptr] * 5 + [_f32]),
    "rlkd_softmax_cross_entropy_backward": (_status, [_ptr] * 4 + [_f32, _f32]),
    "rlkd_kd_loss_forward": (_status, [_ptr] * 6 + [_f32, _f32]),
    "rlkd_kd_loss_backward": (_status, [_ptr] * 5 + [_f32, _f32, _f32]),
    "rlkd_se_forward": (_status, [_ptr] * 7),
    "rlkd_se_backward": (_status, [_ptr] * 12),
    "rlkd_eca_kernel_size": (_int, [_int, _int, _int]),
    "rlkd_eca_forward": (_status, [_ptr] * 4),
    "rlkd_eca_backward": (_status, [_ptr] * 6),
    "rlkd_cbam_forward": (_status, [_ptr] * 9),
    "rlkd_cbam_backward": (_status, [_ptr] * 16),
    "rlkd_attention_transfer_loss_forward": (_status, [_ptr] * 5),
    "rlkd_attention_transfer_loss_backward": (_status, [_ptr] * 4 + [_f32]),
    "rlkd_channel_mask_forward": (_status, [_ptr] * 4),
    "rlkd_channel_mask_backward": (_status, [_ptr] * 4),
    "rlkd_sgd_step": (_status, [_ptr] * 4 + [_f32, _f32, _f32, _int]),
    "rlkd_adam_step": (_status, [_ptr] * 5 + [_f32] * 5 + [_int, _i64]),
    # L2: networks, the zoo, checkpoints, pruning
    "rlkd_net_create": (_status, [_ptr, _int, _int, _int, _ptr_out]),
    "rlkd_net_destroy": (_void, [_ptr]),
    "rlkd_net_add_conv2d": (_status, [_ptr, _int_p, _str] + [_int] * 8),
    "rlkd_net_add_batchnorm2d": (_status, [_ptr, _int_p, _str, _int, _f32, _f32]),
    "rlkd_net_add_relu": (_status, [_ptr, _int_p, _str, _int]),
    "rlkd_net_add_maxpool2d": (_status, [_ptr, _int_p, _str] + [_int] * 4),
    "rlkd_net_add_avgpool2d": (_status, [_ptr, _int_p, _str] + [_int] * 5),
    "rlkd_net_add_global_avgpool": (_status, [_ptr, _int_p, _str, _int]),
    "rlkd_net_add_linear": (_status, [_ptr, _int_p, _str, _int, _int, _int]),
    "rlkd_net_add_dropout": (_status, [_ptr, _int_p, _str, _int, _f32]),
    "rlkd_net_add_add": (_status, [_ptr, _int_p, _str, _int, _int]),
    "rlkd_net_add_concat": (_status, [_ptr, _int_p, _str, _int_p, _int]),
    "rlkd_net_add_se": (_status, [_ptr, _int_p, _str, _int, _int]),
    "rlkd_net_add_eca": (_status, [_ptr, _int_p, _str, _int, _int]),
    "rlkd_net_add_cbam": (_status, [_ptr, _int_p, _str, _int, _int, _int]),
    "rlkd_net_node_count": (_status, [_ptr, _int_p]),
    "rlkd_net_node_shape": (_status, [_ptr, _int, _i64_p, _i64_p, _i64_p]),
    "rlkd_net_node_value": (_status, [_ptr, _int, _ptr_out]),
    "rlkd_net_forward": (_status, [_ptr, _ptr, _int, _ptr_out]),
    "rlkd_net_backward": (_status, [_ptr, _ptr, _ptr]),
    "rlkd_net_backward_nodes": (_status, [_ptr, _ptr, _ptr, _int_p, _ptr, _int]),
    "rlkd_net_zero_grad": (_status, [_ptr]),
    "rlkd_net_param_count": (_status, [_ptr, _int_p]),
    "rlkd_net_param": (_status, [_ptr, _int, _str_out, _ptr_out, _ptr_out]),
    "rlkd_net_buffer_count": (_status, [_ptr, _int_p]),
    "rlkd_net_buffer": (_status, [_ptr, _int, _str_out, _ptr_out]),
    "rlkd_net_find": (_status, [_ptr, _str, _ptr_out]),
    "rlkd_layer_cost_init": (_void, [_cost_p]),
    "rlkd_net_layer_count": (_status, [_ptr, _int_p]),
    "rlkd_net_layer_cost": (_status, [_ptr, _int, _cost_p]),
    "rlkd_net_cost": (_status, [_ptr, _i64_p, _i64_p]),
    "rlkd_zoo_options_init": (_void, [_zoo_p]),
    "rlkd_zoo_create": (_status, [_ptr, _str, _zoo_p, _ptr_out]),
    "rlkd_zoo_name": (_str, [_int]),
    "rlkd_net_save": (_status, [_ptr, _str]),
    "rlkd_net_load_weights": (_status, [_ptr, _str]),
    "rlkd_net_load": (_status, [_ptr, _str, _ptr_out]),
    "rlkd_prune_group_init": (_void, [_group_p]),
    "rlkd_net_prune_group_count": (_status, [_ptr, _int_p]),
    "rlkd_net_prune_group": (_status, [_ptr, _int, _group_p]),
    "rlkd_net_prune_set_prunable": (_status, [_ptr, _int, _int]),
    "rlkd_net_prune_set_mask": (_status, [_ptr, _int, _u8_p, _int]),
    "rlkd_net_prune_get_mask": (_status, [_ptr, _int, _u8_p, _int]),
    "rlkd_net_prune_scores": (_status, [_ptr, _int, _int, _f32_p, _int]),
    "rlkd_net_prune_keep": (_status, [_ptr, _int, _int, _int]),
    "rlkd_net_prune_clear": (_status, [_ptr]),
    "rlkd_net_prune_uniform": (_status, [_ptr, _f64, _int, _f64_p]),
    "rlkd_net_prune_soft": (_status, [_ptr, _f64, _int]),
    "rlkd_net_prune_slimming": (_status, [_ptr, _f64, _f64_p]),
    "rlkd_net_prune_compact": (_status, [_ptr, _ptr_out]),
    # L3: data, optimisers, schedules, training
    "rlkd_dataset_load_idx": (_status, [_str, _str, _ptr_out]),
    "rlkd_dataset_load_cifar": (_status, [ctypes.POINTER(_str), _int, _int, _int, _ptr_out]),
    "rlkd_dataset_create": (_status, [_i64, _int, _int, _int, _int, _ptr_out]),
    "rlkd_dataset_destroy": (_void, [_ptr]),
    "rlkd_dataset_set_item": (_status, [_ptr, _i64, _ptr, ctypes.c_int32]),
    "rlkd_dataset_get_item": (_status, [_ptr, _i64, _ptr, ctypes.POINTER(ctypes.c_int32)]),
    "rlkd_dataset_info": (_status, [_ptr, _i64_p, _int_p, _int_p, _int_p, _int_p]),
    "rlkd_dataset_split": (_status, [_ptr, _i64, _u64, _ptr_out, _ptr_out]),
    "rlkd_dataset_subset": (_status, [_ptr, _i64, _i64, _ptr_out]),
    "rlkd_folder_options_init": (_void, [_folder_p]),
    "rlkd_dataset_open_folder": (_status, [_str, _folder_p, _ptr_out]),
    "rlkd_dataset_open_list": (_status, [_str, _str, _folder_p, _ptr_out]),
    "rlkd_dataset_bad_file_count": (_status, [_ptr, _i64_p]),
    "rlkd_dataset_bad_file": (_status, [_ptr, _i64, _str_out, _str_out]),
    "rlkd_dataset_class_name": (_status, [_ptr, _int, _str_out]),
    "rlkd_loader_options_init": (_void, [_loader_p]),
    "rlkd_loader_create": (_status, [_ptr, _ptr, _loader_p, _ptr_out]),
    "rlkd_loader_destroy": (_void, [_ptr]),
    "rlkd_loader_start_epoch": (_status, [_ptr, _i64, _i64]),
    "rlkd_loader_batch_count": (_status, [_ptr, _i64_p]),
    "rlkd_loader_next": (_status, [_ptr, _ptr_out, _ptr_out]),
    "rlkd_optimizer_options_init": (_void, [_optim_p]),
    "rlkd_optimizer_create": (_status, [_ptr, _optim_p, _ptr_out]),
    "rlkd_optimizer_destroy": (_void, [_ptr]),
    "rlkd_optimizer_step": (_status, [_ptr, _f32]),
    "rlkd_optimizer_step_count": (_status, [_ptr, _i64_p]),
    "rlkd_schedule_init": (_void, [_sched_p]),
    "rlkd_schedule_lr": (_status, [_sched_p, _f64, _f32_p]),
    "rlkd_trainer_options_init": (_void, [_trainer_p]),
    "rlkd_trainer_create": (_status, [_ptr, _ptr, _trainer_p, _ptr_out]),
    "rlkd_trainer_destroy": (_void, [_ptr]),
    "rlkd_trainer_step": (_status, [_ptr, _ptr, _ptr, _i64, _f32_p, _i64_p]),
    "rlkd_trainer_fit": (_status, [_ptr, _ptr, _ptr]),
    "rlkd_trainer_position": (_status, [_ptr, _i64_p, _i64_p]),
    "rlkd_trainer_save": (_status, [_ptr, _str]),
    "rlkd_trainer_resume": (_status, [_ptr, _str]),
    "rlkd_evaluate": (_status, [_ptr, _ptr, _f64_p, _f64_p, _f64_p]),
    # L4: the search and the whole pipeline
    "rlkd_search_layer_init": (_void, [_layer_p]),
    "rlkd_search_options_init": (_void, [_search_p]),
    "rlkd_search_create": (_status, [_layer_p, _int, SEARCH_COST_FN, SEARCH_SCORE_FN, _ptr,
                                     _search_p, _ptr_out]),
    "rlkd_search_destroy": (_void, [_ptr]),
    "rlkd_net_env_options_init": (_void, [_env_p]),
    "rlkd_search_create_net": (_status, [_ptr, _ptr, _ptr, _ptr, _env_p, _search_p, _ptr_out]),
    "rlkd_search_run": (_status, [_ptr, _i64]),
    "rlkd_search_episode_count": (_status, [_ptr, _i64_p]),
    "rlkd_search_best": (_status, [_ptr, _int_p, _int, _f64_p, _f64_p, _i64_p]),
    "rlkd_search_apply_best": (_status, [_ptr]),
    "rlkd_search_save": (_status, [_ptr, _str]),
    "rlkd_search_resume": (_status, [_ptr, _str]),
    "rlkd_compress_options_init": (_void, [_compress_p]),
    "rlkd_compress": (_status, [_ptr] * 5 + [_compress_p, _ptr_out, _report_p]),
    # Several processes: communicators, data-parallel training, parallel search
    "rlkd_comm_options_init": (_void, [_comm_p]),
    "rlkd_comm_options_from_env": (_status, [_comm_p]),
    "rlkd_comm_create": (_status, [_ptr, _comm_p, _ptr_out]),
    "rlkd_comm_destroy": (_void, [_ptr]),
    "rlkd_comm_rank": (_int, [_ptr]),
    "rlkd_comm_world_size": (_int, [_ptr]),
    "rlkd_comm_backend_of": (_int, [_ptr]),
    "rlkd_comm_all_reduce": (_status, [_ptr, _ptr, _int]),
    "rlkd_comm_broadcast": (_status, [_ptr, _ptr, _int]),
    "rlkd_comm_barrier": (_status, [_ptr]),
    "rlkd_parallel_options_init": (_void, [_parallel_p]),
    "rlkd_trainer_set_comm": (_status, [_ptr, _ptr, _parallel_p]),
    "rlkd_search_set_comm": (_status, [_ptr, _ptr]),
}

#: Every struct with its rlkd_xxx_init: the tests check that the sizes agree.
STRUCT_INITS = {
    ZooOptions: "rlkd_zoo_options_init", LayerCost: "rlkd_layer_cost_init",
    PruneGroup: "rlkd_prune_group_init", LoaderOptions: "rlkd_loader_options_init",
    FolderOptions: "rlkd_folder_options_init",
    OptimizerOptions: "rlkd_optimizer_options_init", Schedule: "rlkd_schedule_init",
    TrainerOptions: "rlkd_trainer_options_init", SearchLayer: "rlkd_search_layer_init",
    SearchOptions: "rlkd_search_options_init", NetEnvOptions: "rlkd_net_env_options_init",
    CompressOptions: "rlkd_compress_options_init", CommOptions: "rlkd_comm_options_init",
    ParallelOptions: "rlkd_parallel_options_init",
}


def initialized(struct_type):
    """A struct filled in by its rlkd_xxx_init (the library's defaults)."""
    value = struct_type()
    getattr(lib, STRUCT_INITS[struct_type])(ctypes.byref(value))
    return value


class _Library:
    """librlkd with every function of SIGNATURES declared: attributes are
    the C functions, status-returning ones raising Error on failure."""

    def __init__(self, path):
        self.path = path
        self.cdll = ctypes.CDLL(path)
        number = self._declare("rlkd_version_number")()
        if number // 10000 != ABI_MAJOR:
            raise ImportError(
                "%s is rlkd %d.%d.%d, but this package needs the %d.x ABI: install the "
                "matching library or point RLKD_LIBRARY at one"
                % (path, number // 10000, number // 100 % 100, number % 100, ABI_MAJOR))
        for name in SIGNATURES:
            setattr(self, name, self._declare(name))

    def _declare(self, name):
        result, arguments = SIGNATURES[name]
        function = getattr(self.cdll, name)
        function.argtypes = arguments
        if result == _status:
            function.restype = _int
            function.errcheck = self._check
        else:
            function.restype = result
        return function

    def _check(self, status, function, arguments):
        if status != 0:
            name = self.cdll.rlkd_status_string(status).decode()
            raise Error(status, name.replace("RLKD_ERR_", ""), function.__name__,
                        self.cdll.rlkd_last_error().decode())
        return status


def _candidates():
    """Where librlkd may be, in order: $RLKD_LIBRARY, next to the package
    (a pip install), the source tree's lib/ (a build), the system's loader."""
    here = os.path.dirname(os.path.abspath(__file__))
    return [os.environ.get("RLKD_LIBRARY"),
            os.path.join(here, _SONAME),
            os.path.join(here, "..", "..", "..", "lib", _SONAME),
            _SONAME]


def _load():
    tried = []
    for candidate in _candidates():
        if not candidate:
            continue
        if os.sep in candidate and not os.path.exists(candidate):
            tried.append(candidate + " (absent)")
            continue
        try:
            return _Library(candidate)
        except OSError as error:
            tried.append("%s (%s)" % (candidate, error))
    raise ImportError("librlkd not found: build it with `make`, install it, or set "
                      "RLKD_LIBRARY to its path. Tried: " + "; ".join(tried))


lib = _load()


def fill(struct, options, enums=None):
    """Sets a struct's fields from keyword options: a nested struct takes a
    dict, an array a sequence, a string field a str or path, and a field
    named in `enums` ({"Struct.field" or "field": {name: value}}) a name.
    Unknown names raise TypeError rather than being ignored."""
    enums = enums or {}
    for key, value in options.items():
        field_type = dict(struct._fields_).get(key)
        if field_type is None or key == "struct_size":
            raise TypeError("%s has no option %r" % (type(struct).__name__, key))
        names = enums.get("%s.%s" % (type(struct).__name__, key), enums.get(key))
        if names is not None and isinstance(value, str):
            if value not in names:
                raise ValueError("%s: %r is not one of %s" % (key, value, sorted(names)))
            value = names[value]
        if isinstance(value, dict):
            fill(getattr(struct, key), value, enums)
            continue
        if field_type is _str and value is not None:
            value = os.fspath(value).encode()
        elif issubclass(field_type, ctypes.Array):
            _fill_array(getattr(struct, key), key, value)
            continue
        setattr(struct, key, value)


def _fill_array(array, key, values):
    """Sets the first len(values) entries (the rest keep their defaults)."""
    if len(values) > len(array):
        raise ValueError("%s takes at most %d values, got %d" % (key, len(array), len(values)))
    for i, value in enumerate(values):
        if isinstance(array[i], ctypes.Array):
            _fill_array(array[i], key, value)
        else:
            array[i] = value
