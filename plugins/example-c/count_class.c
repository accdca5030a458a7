/*
 * count-class-c: a complete ctiproxy plugin in C, the twin of the Rust example (plugins/example).
 *
 * It counts, per session, the messages whose top-level "class" is the configured one, and prints
 * "session ID: N x CLASS" when the session ends. It reads each message through the JSON tape the
 * host lends with it (no JSON parser here), keeps its state per session (the events of concurrent
 * sessions interleave) and checks its settings when created, so `ctiproxy check` reports a bad
 * one with the config file's line.
 *
 *   [[pipeline]]
 *   plugin = "count-class-c"
 *   class = "getlist"
 *
 * Everything about the ABI is in ctiproxy_plugin.h; build with the Makefile beside this file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctiproxy_plugin.h"

#define NAME "count-class-c"
#define VERSION "0.1.0"

/* A session in progress and its count. */
typedef struct {
    uint64_t session_id;
    uint64_t seen;
} session_count;

/* One instance: its settings, the host's services, and the sessions in progress. */
typedef struct {
    const ctiproxy_host_api *host;
    char *class_name;
    size_t class_len;
    session_count *sessions;
    size_t session_count_len;
    size_t session_capacity;
} instance;

static ctiproxy_str str_of(const char *text, size_t len) {
    ctiproxy_str s = {(const uint8_t *)text, len};
    return s;
}

/* A buffer the host hands back to free_buf; NULL ptr (nothing to free) if malloc fails. */
static ctiproxy_owned_buf owned_copy(const char *text, size_t len) {
    ctiproxy_owned_buf buf = {NULL, 0, 0};
    buf.ptr = malloc(len ? len : 1);
    if (buf.ptr != NULL) {
        memcpy(buf.ptr, text, len);
        buf.len = len;
        buf.cap = len;
    }
    return buf;
}

/* A configuration error for the host: JSON {"path": ..., "message": ...} (no quotes in either). */
static uint32_t config_error(ctiproxy_owned_buf *out, const char *path, const char *message) {
    char json[256];
    int len = snprintf(json, sizeof json, "{\"path\":\"%s\",\"message\":\"%s\"}", path, message);
    if (len < 0 || (size_t)len >= sizeof json) {
        len = 0;
    }
    *out = owned_copy(json, (size_t)len);
    return CTIPROXY_STATUS_CONFIG_ERROR;
}

/*
 * Settings: the host sends the [[pipeline]] table as compact JSON, e.g. {"class":"getlist"}.
 * This plugin accepts exactly one key, `class`, a string without escapes; anything else is a
 * configuration error naming the key.
 */
static uint32_t parse_settings(const uint8_t *json, size_t len, instance *self,
                               ctiproxy_owned_buf *out_err) {
    static const char key[] = "{\"class\":\"";
    size_t key_len = sizeof key - 1;
    if (len < 2 || json[0] != '{') {
        return config_error(out_err, "", "settings must be a table");
    }
    if (len == 2) {
        return config_error(out_err, "", "missing setting `class` (the class to count)");
    }
    if (len < key_len + 2 || memcmp(json, key, key_len) != 0) {
        if (len > 9 && memcmp(json, "{\"class\":", 9) == 0) {
            return config_error(out_err, "class", "must be a string, a message class");
        }
        return config_error(out_err, "", "unknown setting: this plugin takes only `class`");
    }
    const uint8_t *value = json + key_len;
    const uint8_t *end = memchr(value, '"', len - key_len);
    if (end == NULL || memchr(value, '\\', (size_t)(end - value)) != NULL) {
        return config_error(out_err, "class", "must be a plain string");
    }
    if ((size_t)(end - json) + 2 != len || end[1] != '}') {
        return config_error(out_err, "", "unknown setting: this plugin takes only `class`");
    }
    self->class_len = (size_t)(end - value);
    self->class_name = malloc(self->class_len + 1);
    if (self->class_name == NULL) {
        *out_err = owned_copy("out of memory", 13);
        return CTIPROXY_STATUS_ERROR;
    }
    memcpy(self->class_name, value, self->class_len);
    self->class_name[self->class_len] = '\0';
    return CTIPROXY_STATUS_OK;
}

static uint32_t create(const ctiproxy_host_api *host, ctiproxy_str config_json,
                       void **out_instance, ctiproxy_owned_buf *out_err) {
    instance *self = calloc(1, sizeof *self);
    if (self == NULL) {
        *out_err = owned_copy("out of memory", 13);
        return CTIPROXY_STATUS_ERROR;
    }
    self->host = host;
    uint32_t status = parse_settings(config_json.ptr, config_json.len, self, out_err);
    if (status != CTIPROXY_STATUS_OK) {
        free(self);
        return status;
    }
    *out_instance = self;
    return CTIPROXY_STATUS_OK;
}

/* The count of a session in progress; NULL if its start went uncounted (out of memory). */
static session_count *find_session(instance *self, uint64_t session_id) {
    for (size_t i = 0; i < self->session_count_len; i++) {
        if (self->sessions[i].session_id == session_id) {
            return &self->sessions[i];
        }
    }
    return NULL;
}

static void start_session(instance *self, uint64_t session_id) {
    if (self->session_count_len == self->session_capacity) {
        size_t capacity = self->session_capacity ? self->session_capacity * 2 : 8;
        session_count *grown = realloc(self->sessions, capacity * sizeof *grown);
        if (grown == NULL) {
            return; /* this session goes uncounted rather than failing the proxy */
        }
        self->sessions = grown;
        self->session_capacity = capacity;
    }
    session_count fresh = {session_id, 0};
    self->sessions[self->session_count_len++] = fresh;
}

/* Whether the message's top-level "class" is the configured one, read from the tape. Of
 * duplicate keys the last one counts, as for the host and serde_json: the whole object is walked. */
static int has_class(const instance *self, const ctiproxy_event *event) {
    const ctiproxy_node *nodes = event->index.ptr;
    size_t count = event->index.len;
    const uint8_t *line = event->line.ptr;
    if (count == 0 || nodes[0].kind != CTIPROXY_NODE_OBJECT) {
        return 0;
    }
    /* An object's children alternate key, value; `next` skips a value's whole subtree. */
    size_t i = 1;
    int matches = 0;
    while (i + 1 < count && i < nodes[0].next) {
        const ctiproxy_node *key = &nodes[i];
        const ctiproxy_node *value = &nodes[i + 1];
        int is_class = key->end - key->start == 7 && !(key->flags & CTIPROXY_NODE_FLAG_ESCAPED) &&
                       memcmp(line + key->start, "\"class\"", 7) == 0;
        if (is_class) {
            matches = value->kind == CTIPROXY_NODE_STRING &&
                      !(value->flags & CTIPROXY_NODE_FLAG_ESCAPED) &&
                      value->end - value->start == self->class_len + 2 &&
                      memcmp(line + value->start + 1, self->class_name, self->class_len) == 0;
        }
        i = value->next;
    }
    return matches;
}

static void end_session(instance *self, uint64_t session_id) {
    session_count *session = find_session(self, session_id);
    uint64_t seen = session ? session->seen : 0;
    char text[512];
    int len = snprintf(text, sizeof text, "session %llu: %llu x %s\n",
                       (unsigned long long)session_id, (unsigned long long)seen, self->class_name);
    if (len > 0 && self->host->output != NULL) {
        size_t shown = (size_t)len < sizeof text ? (size_t)len : sizeof text - 1;
        self->host->output(self->host->ctx, str_of(text, shown));
    }
    if (session != NULL) {
        *session = self->sessions[--self->session_count_len];
    }
}

static uint32_t on_event(void *instance_ptr, const ctiproxy_event *event,
                         ctiproxy_owned_buf *out) {
    instance *self = instance_ptr;
    (void)out; /* only a replacement or an error would use it */
    switch (event->kind) {
    case CTIPROXY_EVENT_SESSION_START:
        start_session(self, event->session_id);
        break;
    case CTIPROXY_EVENT_MESSAGE: {
        session_count *session = find_session(self, event->session_id);
        if (session != NULL && has_class(self, event)) {
            session->seen++;
        }
        break;
    }
    case CTIPROXY_EVENT_SESSION_END:
        end_session(self, event->session_id);
        break;
    default: /* shutdown, ticks, and kinds from a newer host: nothing to do */
        break;
    }
    return CTIPROXY_STATUS_PASS;
}

static void destroy(void *instance_ptr) {
    instance *self = instance_ptr;
    if (self != NULL) {
        free(self->sessions);
        free(self->class_name);
        free(self);
    }
}

static void free_buf(ctiproxy_owned_buf buf) {
    free(buf.ptr);
}

#define STATIC_STR(text) {(const uint8_t *)(text), sizeof(text) - 1}

static const ctiproxy_plugin_descriptor DESCRIPTORS[] = {{
    .struct_size = sizeof(ctiproxy_plugin_descriptor),
    .abi_version = CTIPROXY_ABI_VERSION,
    .layout_hash = CTIPROXY_LAYOUT_HASH,
    /* C never unwinds: nothing can escape into the host. */
    .flags = CTIPROXY_FLAG_PANIC_UNWIND,
    .reserved = 0,
    .api_version = STATIC_STR(CTIPROXY_PLUGIN_API_VERSION),
    .name = STATIC_STR(NAME),
    .version = STATIC_STR(VERSION),
    .description = STATIC_STR("Counts the messages of one class per session (written in C)."),
    .create = create,
    .on_event = on_event,
    .destroy = destroy,
    .free_buf = free_buf,
}};

static const ctiproxy_plugin_list LIST = {
    .abi_version = CTIPROXY_ABI_VERSION,
    .struct_size = sizeof(ctiproxy_plugin_list),
    .count = sizeof DESCRIPTORS / sizeof DESCRIPTORS[0],
    .reserved = 0,
    .plugins = DESCRIPTORS,
};

/* The one exported symbol (the Makefile hides every other with -fvisibility=hidden). */
#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
const ctiproxy_plugin_list *ctiproxy_plugin_v1(void) {
    return &LIST;
}
