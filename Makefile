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

.PHONY: build install install-files uninstall

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
