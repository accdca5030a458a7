//! The C header `include/ctiproxy_plugin.h`, the ABI's contract for plugins in any language.
//!
//! cbindgen (as a library, so CI needs no extra install) renders the `#[repr(C)]` types of
//! `src/abi.rs` and `src/index/node.rs` per `cbindgen.toml`; the header opens with the module
//! documentation of both files, so ownership, threading and the checks are said once, in Rust.
//! The test fails when the checked-in header differs from what the sources give
//! (`CTIPROXY_BLESS=1` rewrites it), then compiles a C program against it that prints every
//! struct's size, alignment and field offsets and every constant, and compares each with Rust's.

use std::mem::{align_of, offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;

use ctiproxy_plugin_api::abi::{self, Event, HostApi, Nodes, OwnedBuf, PluginDescriptor, Str};
use ctiproxy_plugin_api::abi::{Node, PluginList};
use ctiproxy_plugin_api::index as node;

const BLESS_VAR: &str = "CTIPROXY_BLESS";

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn header_path() -> PathBuf {
    crate_dir().join("include/ctiproxy_plugin.h")
}

/// What a C author needs beyond the Rust module docs.
const FOR_C_AUTHORS: &str = "\
Writing a plugin in C (a complete one: plugins/example-c/): export
`const ctiproxy_plugin_list *ctiproxy_plugin_v1(void)` returning a static list, and fill each
descriptor with struct_size = sizeof(ctiproxy_plugin_descriptor), abi_version =
CTIPROXY_ABI_VERSION, layout_hash = CTIPROXY_LAYOUT_HASH, api_version =
CTIPROXY_PLUGIN_API_VERSION (all from this header, so they match the types you compiled
against) and flags = CTIPROXY_FLAG_PANIC_UNWIND: C code never unwinds, so nothing escapes into
the host. Build with -fPIC -shared into libctiproxy_NAME.so. A plugin built against another
header is refused with both plugin-api versions named: rebuild it against the host's header.";

/// `[`Str`]` → `ctiproxy_str`, `[`ABI_VERSION`]` → `CTIPROXY_ABI_VERSION`: Rust doc links as the
/// C names the header uses.
fn c_names(text: &str, renames: &toml::Table) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find("[`") {
        let Some(close) = rest[open..].find("`]") else { break };
        let path = &rest[open + 2..open + close];
        if path.is_empty()
            || !path.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        {
            out.push_str(&rest[..open + 2]);
            rest = &rest[open + 2..];
            continue;
        }
        let item = path.rsplit("::").next().unwrap_or(path);
        let renamed = match renames.get(item).and_then(|v| v.as_str()) {
            Some(name) => name.to_owned(),
            None if item.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') => {
                format!("CTIPROXY_{item}")
            }
            None => item.to_owned(),
        };
        out.push_str(&rest[..open]);
        out.push_str(&format!("`{renamed}`"));
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out
}

/// A source file's `//!` documentation, as text.
fn module_doc(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    lines.join("\n")
}

/// The header's opening comment: what abi.rs and node.rs say of the boundary, then for C.
fn preamble() -> String {
    let src = crate_dir().join("src");
    let parts = [
        "ctiproxy plugin ABI: the contract between the ctiproxy host and its plugins.".to_owned(),
        module_doc(&src.join("abi.rs")),
        format!(
            "The JSON tape (ctiproxy_nodes, ctiproxy_node):\n{}",
            module_doc(&src.join("index/node.rs"))
        ),
        FOR_C_AUTHORS.to_owned(),
    ];
    let text = parts.join("\n\n");
    let body: Vec<String> = text
        .lines()
        .map(|l| if l.is_empty() { " *".to_owned() } else { format!(" * {l}") })
        .collect();
    format!("/*\n{}\n */", body.join("\n"))
}

/// The constants cbindgen cannot evaluate, and the entry point's declaration.
fn computed_items() -> (String, String) {
    let defines = format!(
        "\n/** `LAYOUT_HASH` of this plugin-api: put it in every descriptor's `layout_hash`. */\n\
         #define CTIPROXY_LAYOUT_HASH UINT64_C({:#018x})\n\n\
         /** This plugin-api's version: put it in every descriptor's `api_version`. */\n\
         #define CTIPROXY_PLUGIN_API_VERSION \"{}\"\n\n\
         /** The name of the one symbol a plugin library exports (type `ctiproxy_entry_fn`). */\n\
         #define CTIPROXY_ENTRY_SYMBOL \"{}\"\n",
        abi::LAYOUT_HASH,
        abi::PLUGIN_API_VERSION,
        std::str::from_utf8(abi::ENTRY_SYMBOL).unwrap().trim_end_matches('\0'),
    );
    let entry = "\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n\
         /** The entry point a plugin library defines: its static list of plugins. */\n\
         const ctiproxy_plugin_list *ctiproxy_plugin_v1(void);\n\n\
         #ifdef __cplusplus\n}\n#endif\n"
        .to_owned();
    (defines, entry)
}

fn generate() -> String {
    let config_file = crate_dir().join("cbindgen.toml");
    let config = cbindgen::Config::from_file(&config_file).unwrap();
    let renames: toml::Table =
        toml::from_str::<toml::Table>(&std::fs::read_to_string(&config_file).unwrap()).unwrap()
            ["export"]["rename"]
            .as_table()
            .unwrap()
            .clone();
    let (defines, entry) = computed_items();
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_header(preamble())
        .with_after_include(defines)
        .with_src(crate_dir().join("src/abi.rs"))
        .with_src(crate_dir().join("src/index/node.rs"))
        .generate()
        .expect("cbindgen reads the ABI sources");
    let mut out = Vec::new();
    bindings.write(&mut out);
    let text = String::from_utf8(out).unwrap();
    // The declaration goes inside the include guard, after the types it names.
    let guard_end = "#endif  /* CTIPROXY_PLUGIN_H */";
    let text = text.replacen(guard_end, &format!("{entry}\n{guard_end}"), 1);
    c_names(&nullable_function_pointers(&text, &renames), &renames)
}

/// cbindgen reads `Option<CreateFn>` as an opaque type, not as the nullable function pointer
/// it is (a null `None` is guaranteed for `Option<fn>`): the descriptor's fields get the
/// function pointer types, and the descriptor and the list, which point at them, move after
/// their typedefs, before the entry point's type. The compile test below proves the result.
fn nullable_function_pointers(text: &str, renames: &toml::Table) -> String {
    let mut text = text.to_owned();
    for alias in ["CreateFn", "OnEventFn", "DestroyFn", "FreeBufFn"] {
        let opaque = format!("CTIPROXY_Option_{alias}");
        text = text.replace(&format!("typedef struct {opaque} {opaque};\n\n"), "");
        text = text.replace(&opaque, renames[alias].as_str().unwrap());
    }
    for name in ["ctiproxy_plugin_descriptor", "ctiproxy_plugin_list"] {
        let block = struct_block(&text, name);
        text = text.replacen(&block, "", 1);
        let anchor = text.find(&doc_of("ctiproxy_entry_fn", &text)).expect("the entry type");
        text.insert_str(anchor, &block);
    }
    text
}

/// The text of `typedef struct {...} name;` with its doc comment and the blank line after.
fn struct_block(text: &str, name: &str) -> String {
    let end = text.find(&format!("}} {name};\n\n")).expect(name) + name.len() + 4;
    let start = text[..end].rfind("\n/**\n").expect("a doc comment") + 1;
    text[start..end].to_owned()
}

/// The doc comment opening the declaration of `name`.
fn doc_of(name: &str, text: &str) -> String {
    let at = text.find(&format!("(*{name})")).expect(name);
    let start = text[..at].rfind("\n/**\n").expect("a doc comment") + 1;
    text[start..at].lines().take(2).collect::<Vec<_>>().join("\n")
}

/// Where two texts first differ, for the failure message.
fn first_difference(old: &str, new: &str) -> String {
    let (old_lines, new_lines): (Vec<&str>, Vec<&str>) =
        (old.lines().collect(), new.lines().collect());
    let at = old_lines.iter().zip(&new_lines).position(|(a, b)| a != b);
    let at = at.unwrap_or(old_lines.len().min(new_lines.len()));
    format!(
        "line {}:\n  checked in: {}\n  generated:  {}",
        at + 1,
        old_lines.get(at).unwrap_or(&"<end of file>"),
        new_lines.get(at).unwrap_or(&"<end of file>")
    )
}

#[test]
fn the_checked_in_header_is_what_the_abi_sources_give() {
    let generated = generate();
    let path = header_path();
    if std::env::var_os(BLESS_VAR).is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} differs from what the ABI sources give (they changed, or it was edited by hand). Regenerate it with\n  \
         {BLESS_VAR}=1 cargo test -p ctiproxy-plugin-api --test c_header\n\
         and commit it. First difference at {}",
        path.display(),
        first_difference(&checked_in, &generated)
    );
}

/// One thing to compare: a C expression, and what Rust says it is.
type Probe = (String, u64);

macro_rules! layout {
    ($probes:ident, $c:literal, $rust:ty, [$($field:ident),* $(,)?]) => {
        $probes.push((format!("sizeof({})", $c), size_of::<$rust>() as u64));
        $probes.push((format!("_Alignof({})", $c), align_of::<$rust>() as u64));
        $($probes.push((
            format!("offsetof({}, {})", $c, stringify!($field)),
            offset_of!($rust, $field) as u64,
        ));)*
    };
}

macro_rules! constants {
    ($probes:ident, $($c:literal = $value:expr),* $(,)?) => {
        $($probes.push(($c.to_owned(), $value as u64));)*
    };
}

fn probes() -> Vec<Probe> {
    let mut p = Vec::new();
    layout!(p, "ctiproxy_str", Str, [ptr, len]);
    layout!(p, "ctiproxy_nodes", Nodes, [ptr, len]);
    layout!(p, "ctiproxy_node", Node, [start, end, next, count, kind, flags, reserved]);
    layout!(p, "ctiproxy_owned_buf", OwnedBuf, [ptr, len, cap]);
    layout!(
        p,
        "ctiproxy_plugin_descriptor",
        PluginDescriptor,
        [
            struct_size,
            abi_version,
            layout_hash,
            flags,
            reserved,
            api_version,
            name,
            version,
            description,
            create,
            on_event,
            destroy,
            free_buf,
        ]
    );
    layout!(
        p,
        "ctiproxy_plugin_list",
        PluginList,
        [abi_version, struct_size, count, reserved, plugins]
    );
    layout!(
        p,
        "ctiproxy_event",
        Event,
        [
            kind,
            direction,
            flags,
            reserved,
            session_id,
            ts_unix_micros,
            line,
            line_len,
            client_addr,
            server_addr,
            reason,
            bytes_c2s,
            bytes_s2c,
            msgs_c2s,
            msgs_s2c,
            reads_c2s,
            reads_s2c,
            dropped,
            index,
        ]
    );
    layout!(
        p,
        "ctiproxy_host_api",
        HostApi,
        [struct_size, abi_version, flags, reserved, ctx, log, output, counter_add, instance_name,]
    );
    constants!(
        p,
        "CTIPROXY_ABI_VERSION" = abi::ABI_VERSION,
        "CTIPROXY_LAYOUT_HASH" = abi::LAYOUT_HASH,
        "CTIPROXY_FLAG_PANIC_UNWIND" = abi::FLAG_PANIC_UNWIND,
        "CTIPROXY_EVENT_SESSION_START" = abi::EVENT_SESSION_START,
        "CTIPROXY_EVENT_MESSAGE" = abi::EVENT_MESSAGE,
        "CTIPROXY_EVENT_SESSION_END" = abi::EVENT_SESSION_END,
        "CTIPROXY_EVENT_SHUTDOWN" = abi::EVENT_SHUTDOWN,
        "CTIPROXY_EVENT_TICK" = abi::EVENT_TICK,
        "CTIPROXY_DIR_CLIENT_TO_SERVER" = abi::DIR_CLIENT_TO_SERVER,
        "CTIPROXY_DIR_SERVER_TO_CLIENT" = abi::DIR_SERVER_TO_CLIENT,
        "CTIPROXY_MSG_OVERSIZE" = abi::MSG_OVERSIZE,
        "CTIPROXY_MSG_RAW" = abi::MSG_RAW,
        "CTIPROXY_MSG_NO_NEWLINE" = abi::MSG_NO_NEWLINE,
        "CTIPROXY_MSG_TLS" = abi::MSG_TLS,
        "CTIPROXY_SESSION_TLS" = abi::SESSION_TLS,
        "CTIPROXY_STATUS_OK" = abi::STATUS_OK,
        "CTIPROXY_STATUS_PASS" = abi::STATUS_PASS,
        "CTIPROXY_STATUS_DROP" = abi::STATUS_DROP,
        "CTIPROXY_STATUS_REPLACE" = abi::STATUS_REPLACE,
        "CTIPROXY_STATUS_CONFIG_ERROR" = abi::STATUS_CONFIG_ERROR,
        "CTIPROXY_STATUS_ERROR" = abi::STATUS_ERROR,
        "CTIPROXY_STATUS_PANICKED" = abi::STATUS_PANICKED,
        "CTIPROXY_LOG_ERROR" = abi::LOG_ERROR,
        "CTIPROXY_LOG_WARN" = abi::LOG_WARN,
        "CTIPROXY_LOG_INFO" = abi::LOG_INFO,
        "CTIPROXY_LOG_DEBUG" = abi::LOG_DEBUG,
        "CTIPROXY_HOST_OUTPUT_IS_TERMINAL" = abi::HOST_OUTPUT_IS_TERMINAL,
        "CTIPROXY_HOST_CHECK_ONLY" = abi::HOST_CHECK_ONLY,
        "CTIPROXY_NODE_OBJECT" = node::KIND_OBJECT,
        "CTIPROXY_NODE_ARRAY" = node::KIND_ARRAY,
        "CTIPROXY_NODE_STRING" = node::KIND_STRING,
        "CTIPROXY_NODE_NUMBER" = node::KIND_NUMBER,
        "CTIPROXY_NODE_TRUE" = node::KIND_TRUE,
        "CTIPROXY_NODE_FALSE" = node::KIND_FALSE,
        "CTIPROXY_NODE_NULL" = node::KIND_NULL,
        "CTIPROXY_NODE_KEY" = node::KIND_KEY,
        "CTIPROXY_NODE_FLAG_ESCAPED" = node::FLAG_ESCAPED,
        "CTIPROXY_NODE_FLAG_FLOAT" = node::FLAG_FLOAT,
        "sizeof(CTIPROXY_PLUGIN_API_VERSION) - 1" = abi::PLUGIN_API_VERSION.len(),
    );
    p
}

/// A C program printing each probe's expression and value, one per line.
fn probe_program(probes: &[Probe]) -> String {
    let mut c = String::from(
        "#include <stdio.h>\n#include <string.h>\n#include \"ctiproxy_plugin.h\"\n\nint main(void) {\n",
    );
    for (expr, _) in probes {
        c.push_str(&format!(
            "    printf(\"%s = %llu\\n\", \"{expr}\", (unsigned long long)({expr}));\n"
        ));
    }
    c.push_str(&format!(
        "    printf(\"api = %s\\n\", strcmp(CTIPROXY_PLUGIN_API_VERSION, \"{}\") == 0 ? \"same\" : \"differs\");\n",
        abi::PLUGIN_API_VERSION
    ));
    c.push_str("    return 0;\n}\n");
    c
}

#[test]
fn the_header_compiles_and_agrees_with_rust_on_every_layout_and_constant() {
    let probes = probes();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("probe.c");
    std::fs::write(&source, probe_program(&probes)).unwrap();
    let exe = dir.path().join("probe");
    // The header as generated now, so this test does not depend on the other one's blessing.
    let include = dir.path();
    std::fs::write(include.join("ctiproxy_plugin.h"), generate()).unwrap();
    let compiled = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-I"])
        .arg(include)
        .arg(&source)
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("a C compiler `cc` (README: Development)");
    assert!(compiled.status.success(), "cc failed:\n{}", String::from_utf8_lossy(&compiled.stderr));
    let out = Command::new(&exe).output().unwrap();
    let mut expected: String =
        probes.iter().map(|(expr, value)| format!("{expr} = {value}\n")).collect();
    expected.push_str("api = same\n");
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}
