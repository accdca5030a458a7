/*
 * ctiproxy plugin ABI: the contract between the ctiproxy host and its plugins.
 *
 * The C ABI between the ctiproxy host and its plugins: the only types that cross a shared
 * library boundary.
 *
 * Rust's own ABI is not stable between compilers, so nothing here is a Rust-only type: every
 * struct is `#[repr(C)]` and holds fixed-width integers, raw pointers, lengths and optional
 * `extern "C"` function pointers (whose `None` is guaranteed to be the null pointer). Kinds,
 * directions and status codes are `u32` constants, never Rust enums, because an out-of-range
 * discriminant read from a foreign library would be undefined behaviour.
 *
 * Ownership rules (each pointer below says which applies):
 * - `ctiproxy_str` is *borrowed*: valid only for the duration of the call it is passed to, or for the
 *   life of the process when it points at a plugin's static data (names, descriptions).
 * - `ctiproxy_owned_buf` is *owned by the library that allocated it*: a plugin fills it, the host reads it
 *   and hands it back to that same plugin's `free_buf`. Allocators are never mixed.
 * - Libraries are never unloaded, so a descriptor's static data lives for the whole process.
 *
 * Threading: an instance is called by one thread at a time (the pipeline thread), not
 * necessarily the thread that created it; the host's callbacks in `ctiproxy_host_api` are thread-safe
 * and may be called from any thread the plugin owns. Events of different sessions interleave:
 * keep per-session state keyed by `session_id`.
 *
 * Checks, in this order, before the host calls anything: the `ctiproxy_plugin_list`'s
 * `CTIPROXY_ABI_VERSION` and size, then per `ctiproxy_plugin_descriptor`: its `CTIPROXY_ABI_VERSION`, its
 * `struct_size` (exactly this crate's), its `CTIPROXY_LAYOUT_HASH` (exactly this crate's), the four
 * functions present, UTF-8 texts, a name of lowercase letters, digits and `-`, and
 * `CTIPROXY_FLAG_PANIC_UNWIND` (a plugin written in C sets it: it cannot unwind). A refusal names the
 * library, the check, and both plugin-api versions when the versions differ.
 *
 * How the ABI grows: `CTIPROXY_LAYOUT_HASH` covers the size, alignment and field offsets of every struct
 * above and the event kind and status codes it lists, so any change to them refuses every plugin
 * built before it, which must then be rebuilt against the new plugin-api: structs are never
 * extended in place. What keeps the hash, and so keeps old plugins loading, is new meaning for
 * existing room: a new `MSG_*`, `SESSION_*` or `HOST_*` flag bit, or a new `EVENT_*` kind (a
 * plugin ignores kinds it does not know and passes them on) added with a new plugin-api minor
 * version. A change that old plugins could not ignore bumps `CTIPROXY_ABI_VERSION`, and with it the entry
 * symbol's name. The `ctiproxy_plugin_list` and the descriptor's header keep their layout in every ABI
 * version, so a host can always say what a refused plugin was built with.
 *
 * The JSON tape (ctiproxy_nodes, ctiproxy_node):
 * The tape's element: one `#[repr(C)]` node per JSON token, in document order.
 *
 * A tape describes one JSON text (one CTI line) without copying any of it: every node holds
 * byte offsets into the line. A container is followed by its descendants and knows where they
 * end, so a reader skips a whole subtree in O(1). An object's children alternate key, value.
 *
 * Layout (20 bytes, 4-byte aligned, no implicit padding, no pointers), so a tape can be lent
 * across the plugin C ABI next to the line it describes:
 *
 * | offset | field      | type      | meaning                                                        |
 * |-------:|------------|-----------|----------------------------------------------------------------|
 * | 0      | `start`    | `u32`     | offset of the token's first byte (`{`, `[`, `"`, `-`, digit, letter) |
 * | 4      | `end`      | `u32`     | offset one past its last byte (past the closing `}`/`]`/`"`)     |
 * | 8      | `next`     | `u32`     | index of the node after this one's subtree (`self + 1` for scalars) |
 * | 12     | `count`    | `u32`     | objects: entries as written (duplicates included); arrays: items; else 0 |
 * | 16     | `kind`     | `u8`      | one of the `KIND_*` codes                                      |
 * | 17     | `flags`    | `u8`      | `FLAG_*` bits                                                  |
 * | 18     | `reserved` | `[u8; 2]` | zero                                                           |
 *
 * Offsets are `u32`: the parser refuses lines of 4 GiB or more.
 *
 * Writing a plugin in C (a complete one: plugins/example-c/): export
 * `const ctiproxy_plugin_list *ctiproxy_plugin_v1(void)` returning a static list, and fill each
 * descriptor with struct_size = sizeof(ctiproxy_plugin_descriptor), abi_version =
 * CTIPROXY_ABI_VERSION, layout_hash = CTIPROXY_LAYOUT_HASH, api_version =
 * CTIPROXY_PLUGIN_API_VERSION (all from this header, so they match the types you compiled
 * against) and flags = CTIPROXY_FLAG_PANIC_UNWIND: C code never unwinds, so nothing escapes into
 * the host. Build with -fPIC -shared into libctiproxy_NAME.so. A plugin built against another
 * header is refused with both plugin-api versions named: rebuild it against the host's header.
 */

#ifndef CTIPROXY_PLUGIN_H
#define CTIPROXY_PLUGIN_H

/* Generated from plugin-api/src/abi.rs by plugin-api/tests/c_header.rs: do not edit. Regenerate with CTIPROXY_BLESS=1 cargo test -p ctiproxy-plugin-api --test c_header. */

#include <stddef.h>
#include <stdint.h>

/** `LAYOUT_HASH` of this plugin-api: put it in every descriptor's `layout_hash`. */
#define CTIPROXY_LAYOUT_HASH UINT64_C(0x0942b6281d665243)

/** This plugin-api's version: put it in every descriptor's `api_version`. */
#define CTIPROXY_PLUGIN_API_VERSION "0.1.0"

/** The name of the one symbol a plugin library exports (type `ctiproxy_entry_fn`). */
#define CTIPROXY_ENTRY_SYMBOL "ctiproxy_plugin_v1"


/**
 * The ABI major version this crate speaks. A host refuses plugins built for another major.
 */
#define CTIPROXY_ABI_VERSION 1

/**
 * Descriptor flag: the library was built with `panic = "unwind"`, so its panics can be caught.
 * Plugins built with `panic = "abort"` are refused: one panic would kill the whole proxy.
 */
#define CTIPROXY_FLAG_PANIC_UNWIND 1

/**
 * Event kind: a client connected and the server leg is up.
 */
#define CTIPROXY_EVENT_SESSION_START 1

/**
 * Event kind: one line (or, in raw mode, one read) in one direction.
 */
#define CTIPROXY_EVENT_MESSAGE 2

/**
 * Event kind: a session ended; no more messages for it will follow.
 */
#define CTIPROXY_EVENT_SESSION_END 3

/**
 * Event kind: the pipeline is shutting down; flush files, print totals.
 */
#define CTIPROXY_EVENT_SHUTDOWN 4

/**
 * Event kind: a timer tick, about once a second while the pipeline is idle or busy, so plugins
 * can flush buffers or expire state without a thread of their own.
 */
#define CTIPROXY_EVENT_TICK 5

/**
 * Direction: bytes the client sent towards the server.
 */
#define CTIPROXY_DIR_CLIENT_TO_SERVER 1

/**
 * Direction: bytes the server sent towards the client.
 */
#define CTIPROXY_DIR_SERVER_TO_CLIENT 2

/**
 * Message flag: the line was longer than the configured maximum; `line` holds only a preview and
 * `line_len` the full length. The bytes were still forwarded.
 */
#define CTIPROXY_MSG_OVERSIZE 1

/**
 * Message flag: raw mode, the message is one TCP read rather than one line.
 */
#define CTIPROXY_MSG_RAW (1 << 1)

/**
 * Message flag: the peer closed the connection before a final newline; this is the tail.
 */
#define CTIPROXY_MSG_NO_NEWLINE (1 << 2)

/**
 * Message flag: the message travelled encrypted (TLS) and the proxy decrypted it: every message
 * after a STARTTLS switch, and every message of a session on a TLS listener.
 */
#define CTIPROXY_MSG_TLS (1 << 3)

/**
 * Session-start flag: the session is TLS from its first byte (a TLS listener, `tls = "always"`).
 * A STARTTLS session starts in plain text, so its start has no flag; its messages after the
 * switch carry `CTIPROXY_MSG_TLS`.
 */
#define CTIPROXY_SESSION_TLS 1

/**
 * Status: success (`create`), or "pass the message on unchanged" (`on_event`).
 */
#define CTIPROXY_STATUS_OK 0

/**
 * Status of `on_event`: pass the message on unchanged.
 */
#define CTIPROXY_STATUS_PASS 0

/**
 * Status of `on_event`: later plugins do not see this message. The wire is not affected.
 */
#define CTIPROXY_STATUS_DROP 1

/**
 * Status of `on_event`: later plugins see the bytes in the out buffer instead.
 */
#define CTIPROXY_STATUS_REPLACE 2

/**
 * Status of `create`: the configuration was rejected; the out buffer holds a JSON
 * `{"path": "a.b", "message": "..."}`.
 */
#define CTIPROXY_STATUS_CONFIG_ERROR 3

/**
 * Status: the call failed; the out buffer holds UTF-8 error text.
 */
#define CTIPROXY_STATUS_ERROR 4

/**
 * Status: the plugin panicked; the out buffer holds the panic message. The instance is
 * poisoned: every later call returns this status without running plugin code.
 */
#define CTIPROXY_STATUS_PANICKED 5

/**
 * Host log level codes for `log`.
 */
#define CTIPROXY_LOG_ERROR 1

/**
 * Warning level.
 */
#define CTIPROXY_LOG_WARN 2

/**
 * Info level.
 */
#define CTIPROXY_LOG_INFO 3

/**
 * Debug level.
 */
#define CTIPROXY_LOG_DEBUG 4

/**
 * Host flag: the host's user output (stdout) is a terminal, so colour is welcome.
 */
#define CTIPROXY_HOST_OUTPUT_IS_TERMINAL 1

/**
 * Host flag: the pipeline is only being checked (`ctiproxy check`) and will never run. Validate
 * the settings, but create no file, open no connection, start no thread.
 */
#define CTIPROXY_HOST_CHECK_ONLY (1 << 1)

/**
 * An object: `count` key/value pairs follow, as `KIND_KEY` then value.
 */
#define CTIPROXY_NODE_OBJECT 1

/**
 * An array: `count` values follow.
 */
#define CTIPROXY_NODE_ARRAY 2

/**
 * A string value; the span includes the quotes.
 */
#define CTIPROXY_NODE_STRING 3

/**
 * A number; the span is its text as written.
 */
#define CTIPROXY_NODE_NUMBER 4

/**
 * `true`.
 */
#define CTIPROXY_NODE_TRUE 5

/**
 * `false`.
 */
#define CTIPROXY_NODE_FALSE 6

/**
 * `null`.
 */
#define CTIPROXY_NODE_NULL 7

/**
 * An object key; the span includes the quotes. Its value is the next node.
 */
#define CTIPROXY_NODE_KEY 8

/**
 * Strings and keys: the text contains at least one `\` escape, so it must be decoded before
 * use (without it the bytes between the quotes are the string).
 */
#define CTIPROXY_NODE_FLAG_ESCAPED 1

/**
 * Numbers: written with a fraction or an exponent (serde_json reads these as floats).
 */
#define CTIPROXY_NODE_FLAG_FLOAT 2

/**
 * A borrowed byte string: `ptr` to `len` bytes, not NUL-terminated, not necessarily UTF-8.
 */
typedef struct {
    /**
     * First byte; may be dangling when `len == 0`.
     */
    const uint8_t *ptr;
    /**
     * Number of bytes.
     */
    size_t len;
} ctiproxy_str;

/**
 * One token of a JSON text; see the module documentation for the layout.
 */
typedef struct {
    /**
     * Offset of the token's first byte in the line.
     */
    uint32_t start;
    /**
     * Offset one past the token's last byte.
     */
    uint32_t end;
    /**
     * Index of the first node after this node's subtree.
     */
    uint32_t next;
    /**
     * Children of a container: entries of an object, items of an array; 0 otherwise.
     */
    uint32_t count;
    /**
     * A `KIND_*` code.
     */
    uint8_t kind;
    /**
     * `FLAG_*` bits.
     */
    uint8_t flags;
    /**
     * Zero; keeps the size a multiple of the alignment without implicit padding.
     */
    uint8_t reserved[2];
} ctiproxy_node;

/**
 * A borrowed slice of index nodes (the JSON tape of a message line, see `index`): the
 * host parses each line once and lends the tape to every plugin with the line.
 */
typedef struct {
    /**
     * First node; may be dangling when `len == 0`.
     */
    const ctiproxy_node *ptr;
    /**
     * Number of nodes; 0 when the line is not JSON (or was not indexed: raw, oversize).
     */
    size_t len;
} ctiproxy_nodes;

/**
 * A buffer allocated by a plugin and released only by that plugin's `free_buf`.
 */
typedef struct {
    /**
     * Start of the allocation, or null for "no buffer".
     */
    uint8_t *ptr;
    /**
     * Bytes in use.
     */
    size_t len;
    /**
     * Allocated capacity (needed to rebuild the `Vec` that allocated it).
     */
    size_t cap;
} ctiproxy_owned_buf;



/**
 * One event, flat so that a new kind never changes the function table. Fields that do not apply
 * to a kind are zero or empty.
 */
typedef struct {
    /**
     * `EVENT_*`.
     */
    uint32_t kind;
    /**
     * `DIR_*` for messages, 0 otherwise.
     */
    uint32_t direction;
    /**
     * `MSG_*` bits for messages, `SESSION_*` bits for a session start.
     */
    uint32_t flags;
    /**
     * Reserved, zero.
     */
    uint32_t reserved;
    /**
     * The session this event belongs to (0 for shutdown).
     */
    uint64_t session_id;
    /**
     * When the bytes arrived (or the session started/ended), microseconds since the Unix epoch.
     */
    int64_t ts_unix_micros;
    /**
     * The line without its `\n` (messages); borrowed for the call.
     */
    ctiproxy_str line;
    /**
     * Full length of the line; larger than `line.len` only for oversize lines.
     */
    uint64_t line_len;
    /**
     * Client address as text (session events).
     */
    ctiproxy_str client_addr;
    /**
     * Server address as text (session events).
     */
    ctiproxy_str server_addr;
    /**
     * Why a session ended (session end).
     */
    ctiproxy_str reason;
    /**
     * Bytes forwarded client → server (session end).
     */
    uint64_t bytes_c2s;
    /**
     * Bytes forwarded server → client (session end).
     */
    uint64_t bytes_s2c;
    /**
     * Lines client → server (session end).
     */
    uint64_t msgs_c2s;
    /**
     * Lines server → client (session end).
     */
    uint64_t msgs_s2c;
    /**
     * TCP reads client → server (session end), for wire-level estimates.
     */
    uint64_t reads_c2s;
    /**
     * TCP reads server → client (session end).
     */
    uint64_t reads_s2c;
    /**
     * Events of this session the pipeline lost to a full queue (`overflow = "drop"`).
     */
    uint64_t dropped;
    /**
     * Messages: the line's JSON tape, parsed once by the host (empty when the line is not JSON,
     * is oversize or a raw read); borrowed for the call. A replaced line is indexed again for
     * the plugins after the one that replaced it.
     */
    ctiproxy_nodes index;
} ctiproxy_event;

/**
 * Services the host offers a plugin instance, passed to `create`. The host never frees it (a
 * plugin may keep using it from its own threads after `destroy`); every callback is
 * thread-safe.
 */
typedef struct {
    /**
     * `size_of::<HostApi>()` as the host was built.
     */
    uint32_t struct_size;
    /**
     * `CTIPROXY_ABI_VERSION` of the host.
     */
    uint32_t abi_version;
    /**
     * `HOST_*` flags.
     */
    uint32_t flags;
    /**
     * Reserved, zero.
     */
    uint32_t reserved;
    /**
     * Opaque host state passed back to every callback.
     */
    void *ctx;
    /**
     * Logs a diagnostic (stderr, via the host's logger) under the instance's name.
     */
    void (*log)(void *ctx, uint32_t level, ctiproxy_str msg);
    /**
     * Writes user-facing output (stdout). The host buffers and orders it.
     */
    void (*output)(void *ctx, ctiproxy_str bytes);
    /**
     * Adds to a named counter of this instance.
     */
    void (*counter_add)(void *ctx, ctiproxy_str name, uint64_t delta);
    /**
     * The instance's label in the pipeline, e.g. `spy` or `pipeline[2] (spy)`.
     */
    ctiproxy_str instance_name;
} ctiproxy_host_api;

/**
 * Creates an instance from its JSON configuration. On success writes the instance pointer and
 * returns `CTIPROXY_STATUS_OK`; otherwise fills `out_err` and returns `CTIPROXY_STATUS_CONFIG_ERROR`,
 * `CTIPROXY_STATUS_ERROR` or `CTIPROXY_STATUS_PANICKED`. `host` stays valid for the rest of the process.
 */
typedef uint32_t (*ctiproxy_create_fn)(const ctiproxy_host_api *host,
                                       ctiproxy_str config_json,
                                       void **out_instance,
                                       ctiproxy_owned_buf *out_err);

/**
 * Delivers one `ctiproxy_event`. Returns a `STATUS_*` code; `out` receives the replacement bytes for
 * `CTIPROXY_STATUS_REPLACE`, or error text for `CTIPROXY_STATUS_ERROR` / `CTIPROXY_STATUS_PANICKED`.
 */
typedef uint32_t (*ctiproxy_on_event_fn)(void *instance,
                                         const ctiproxy_event *event,
                                         ctiproxy_owned_buf *out);

/**
 * Drops an instance. Never fails; a no-op on a poisoned instance's already-dropped state.
 */
typedef void (*ctiproxy_destroy_fn)(void *instance);

/**
 * Releases a buffer this library handed out.
 */
typedef void (*ctiproxy_free_buf_fn)(ctiproxy_owned_buf buf);

/**
 * One plugin exported by a library.
 *
 * Its size is part of `CTIPROXY_LAYOUT_HASH`, so the host accepts exactly its own layout: a longer or
 * shorter descriptor is refused (see "How the ABI grows" in the module documentation). Its
 * header, the fields up to and including `api_version`, keeps its place in every ABI version,
 * so that a host can always tell which ABI and which plugin-api a refused plugin was built with.
 */
typedef struct {
    /**
     * `size_of::<PluginDescriptor>()` as the plugin was built.
     */
    uint32_t struct_size;
    /**
     * `CTIPROXY_ABI_VERSION` as the plugin was built.
     */
    uint32_t abi_version;
    /**
     * `CTIPROXY_LAYOUT_HASH` as the plugin was built; differs if it used an incompatible plugin-api.
     */
    uint64_t layout_hash;
    /**
     * `FLAG_*` bits.
     */
    uint32_t flags;
    /**
     * Reserved, zero.
     */
    uint32_t reserved;
    /**
     * The plugin-api crate version it was built with (static, UTF-8); a C plugin puts
     * `CTIPROXY_PLUGIN_API_VERSION` from the header it included. Named in load errors.
     */
    ctiproxy_str api_version;
    /**
     * The name used in `[[pipeline]] plugin = "..."` (static, UTF-8): lowercase ASCII letters,
     * digits and `-`, starting with a letter, or the host refuses the plugin.
     */
    ctiproxy_str name;
    /**
     * The plugin's own version (static, UTF-8).
     */
    ctiproxy_str version;
    /**
     * One line saying what it does (static, UTF-8).
     */
    ctiproxy_str description;
    /**
     * See `ctiproxy_create_fn`.
     */
    ctiproxy_create_fn create;
    /**
     * See `ctiproxy_on_event_fn`.
     */
    ctiproxy_on_event_fn on_event;
    /**
     * See `ctiproxy_destroy_fn`.
     */
    ctiproxy_destroy_fn destroy;
    /**
     * See `ctiproxy_free_buf_fn`.
     */
    ctiproxy_free_buf_fn free_buf;
} ctiproxy_plugin_descriptor;
/**
 * What `CTIPROXY_ENTRY_SYMBOL` returns: the library's plugins, in static memory. Its layout is the
 * same in every ABI version.
 */
typedef struct {
    /**
     * `CTIPROXY_ABI_VERSION` as the library was built; checked before anything else is read.
     */
    uint32_t abi_version;
    /**
     * `size_of::<PluginList>()` as the library was built.
     */
    uint32_t struct_size;
    /**
     * Number of descriptors at `plugins`.
     */
    uint32_t count;
    /**
     * Reserved, zero.
     */
    uint32_t reserved;
    /**
     * `count` descriptors, each `size_of::<PluginDescriptor>()` apart as this crate defines it.
     */
    const ctiproxy_plugin_descriptor *plugins;
} ctiproxy_plugin_list;
/**
 * The type of `CTIPROXY_ENTRY_SYMBOL`: returns a pointer to the library's static `ctiproxy_plugin_list`.
 */
typedef const ctiproxy_plugin_list *(*ctiproxy_entry_fn)(void);


#ifdef __cplusplus
extern "C" {
#endif

/** The entry point a plugin library defines: its static list of plugins. */
const ctiproxy_plugin_list *ctiproxy_plugin_v1(void);

#ifdef __cplusplus
}
#endif

#endif  /* CTIPROXY_PLUGIN_H */
