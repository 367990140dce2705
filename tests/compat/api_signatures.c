/* api_signatures.c: every function of Apple's ES client API, compared with its exact macOS
 * type (ESClient.h / ESMessage.h of the macOS 26-27 SDKs, nullability left out) at compile
 * time. A missing function or a changed parameter type fails the build. Compiled, not
 * linked, with the compat client (tests/CMakeLists.txt): libuext has no es_* yet. */
#include <EndpointSecurity/EndpointSecurity.h>

#define SAME(name, type) \
	_Static_assert(__builtin_types_compatible_p(__typeof__(&name), type), #name " has Apple's signature")

SAME(es_delete_client, es_return_t (*)(es_client_t *));
SAME(es_subscribe, es_return_t (*)(es_client_t *, const es_event_type_t *, uint32_t));
SAME(es_unsubscribe, es_return_t (*)(es_client_t *, const es_event_type_t *, uint32_t));
SAME(es_unsubscribe_all, es_return_t (*)(es_client_t *));
SAME(es_subscriptions, es_return_t (*)(es_client_t *, size_t *, es_event_type_t **));
SAME(es_respond_auth_result,
     es_respond_result_t (*)(es_client_t *, const es_message_t *, es_auth_result_t, bool));
SAME(es_respond_flags_result, es_respond_result_t (*)(es_client_t *, const es_message_t *, uint32_t, bool));
SAME(es_clear_cache, es_clear_cache_result_t (*)(es_client_t *));
SAME(es_mute_process, es_return_t (*)(es_client_t *, const audit_token_t *));
SAME(es_unmute_process, es_return_t (*)(es_client_t *, const audit_token_t *));
SAME(es_mute_process_events,
     es_return_t (*)(es_client_t *, const audit_token_t *, const es_event_type_t *, size_t));
SAME(es_unmute_process_events,
     es_return_t (*)(es_client_t *, const audit_token_t *, const es_event_type_t *, size_t));
SAME(es_muted_processes_events, es_return_t (*)(es_client_t *, es_muted_processes_t **));
SAME(es_release_muted_processes, void (*)(es_muted_processes_t *));
SAME(es_mute_path, es_return_t (*)(es_client_t *, const char *, es_mute_path_type_t));
SAME(es_unmute_path, es_return_t (*)(es_client_t *, const char *, es_mute_path_type_t));
SAME(es_mute_path_events,
     es_return_t (*)(es_client_t *, const char *, es_mute_path_type_t, const es_event_type_t *, size_t));
SAME(es_unmute_path_events,
     es_return_t (*)(es_client_t *, const char *, es_mute_path_type_t, const es_event_type_t *, size_t));
SAME(es_muted_paths_events, es_return_t (*)(es_client_t *, es_muted_paths_t **));
SAME(es_release_muted_paths, void (*)(es_muted_paths_t *));
SAME(es_unmute_all_paths, es_return_t (*)(es_client_t *));
SAME(es_unmute_all_target_paths, es_return_t (*)(es_client_t *));
SAME(es_invert_muting, es_return_t (*)(es_client_t *, es_mute_inversion_type_t));
SAME(es_muting_inverted, es_mute_inverted_return_t (*)(es_client_t *, es_mute_inversion_type_t));
SAME(es_retain_message, void (*)(const es_message_t *));
SAME(es_release_message, void (*)(const es_message_t *));
SAME(es_exec_arg_count, uint32_t (*)(const es_event_exec_t *));
SAME(es_exec_env_count, uint32_t (*)(const es_event_exec_t *));
SAME(es_exec_fd_count, uint32_t (*)(const es_event_exec_t *));
SAME(es_exec_arg, es_string_token_t (*)(const es_event_exec_t *, uint32_t));
SAME(es_exec_env, es_string_token_t (*)(const es_event_exec_t *, uint32_t));
SAME(es_exec_fd, const es_fd_t *(*)(const es_event_exec_t *, uint32_t));
SAME(es_set_deadline_miss_mode, es_return_t (*)(es_client_t *, es_deadline_miss_mode_t));
SAME(es_get_deadline_miss_mode, es_return_t (*)(es_client_t *, es_deadline_miss_mode_t *));
SAME(es_set_deadline_max_milliseconds, es_return_t (*)(es_client_t *, const es_event_type_t *, uint32_t, uint32_t));
SAME(es_get_deadline_max_milliseconds, es_return_t (*)(es_client_t *, es_event_type_t, uint32_t *));
SAME(es_set_deadline_min_milliseconds, es_return_t (*)(es_client_t *, const es_event_type_t *, uint32_t, uint32_t));
SAME(es_get_deadline_min_milliseconds, es_return_t (*)(es_client_t *, es_event_type_t, uint32_t *));

/* deprecated by Apple, still called by older ports */
SAME(es_mute_path_prefix, es_return_t (*)(es_client_t *, const char *));
SAME(es_mute_path_literal, es_return_t (*)(es_client_t *, const char *));
SAME(es_muted_processes, es_return_t (*)(es_client_t *, size_t *, audit_token_t **));
SAME(es_copy_message, es_message_t *(*)(const es_message_t *));
SAME(es_free_message, void (*)(es_message_t *));
SAME(es_message_size, size_t (*)(const es_message_t *));

/* uext's C-function forms, available with every compiler */
SAME(es_new_client_f, es_new_client_result_t (*)(es_client_t **, es_handler_func_t, void *));
SAME(es_new_descendants_client_f, es_new_client_result_t (*)(es_client_t **, es_handler_func_t, void *));
SAME(es_sync_client_f, es_return_t (*)(es_client_t *, void (*)(void *), void *));
SAME(uext_es_client_new,
     es_new_client_result_t (*)(es_client_t **, uint32_t, es_handler_func_t, void *, void (*)(void *)));

#if defined(__BLOCKS__)
/* Apple's block forms */
SAME(es_new_client, es_new_client_result_t (*)(es_client_t **, es_handler_block_t));
SAME(es_new_descendants_client, es_new_client_result_t (*)(es_client_t **, es_handler_block_t));
SAME(es_sync_client, es_return_t (*)(es_client_t *, void (^)(void)));
#endif
