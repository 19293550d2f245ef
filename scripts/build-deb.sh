#!/usr/bin/env bash
# Builds the Debian package build/deb/fusebox_VERSION_ARCH.deb (make deb):
# compiles with Debian's hardening flags into build/deb/obj, installs into
# build/deb/src/debian/fusebox (make install, plus what only the package
# holds: contrib/deb/, docs, examples, the fleet agent's unit), strips the
# binaries, takes Depends from dpkg-shlibdeps and packs it with dpkg-deb.
# Every date in it is the last commit's (SOURCE_DATE_EPOCH), so two builds of
# one tree give the same file.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${VERSION:?run it as make deb}
MAINTAINER=${DEB_MAINTAINER:-fusebox maintainers <maintainers@users.noreply.r-seed-d0fd5ebc.example>}
out=build/deb
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export SOURCE_DATE_EPOCH
src=$out/src
pkg=$src/debian/fusebox # where dpkg-shlibdeps looks for the package's files
deb=$out/fusebox_${VERSION}_${arch}.deb

rm -rf "$src" "$deb"
mkdir -p "$pkg/DEBIAN"
make --no-print-directory BUILD="$out/obj" SANITIZE= MULTIARCH="$multiarch" \
    CFLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS) -flto=auto" \
    LDFLAGS="$(dpkg-buildflags --get LDFLAGS)" \
    install DESTDIR="$PWD/$pkg" PREFIX=/usr LIBDIR="/usr/lib/$multiarch"
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
    "$pkg/usr/lib/$multiarch/fusebox/libfusebox.so"
strip --remove-section=.comment --remove-section=.note "$pkg/usr/bin/fusebox"

doc=$pkg/usr/share/doc/fusebox
install -d "$doc/examples" "$pkg/etc/fusebox" "$pkg/lib/systemd/system" "$pkg/usr/lib/tmpfiles.d"
install -m 0644 contrib/deb/copyright "$doc/copyright"
gzip -9n < README.md > "$doc/README.md.gz"
gzip -9n < docs/install.md > "$doc/install.md.gz"
printf 'fusebox (%s) unstable; urgency=medium\n\n  * Release %s (see README.md.gz).\n\n -- %s  %s\n' \
    "$VERSION" "$VERSION" "$MAINTAINER" "$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")" |
    gzip -9n > "$doc/changelog.gz"
install -m 0644 rules/* contrib/Dockerfile "$doc/examples/"
install -m 0644 contrib/deb/rules.json "$pkg/etc/fusebox/rules.json"
install -m 0644 contrib/deb/tmpfiles.conf "$pkg/usr/lib/tmpfiles.d/fusebox.conf"
sed -e 's|/usr/local/bin/fusebox|/usr/bin/fusebox|' \
    -e 's|^Documentation=.*|Documentation=man:fusebox(1)|' \
    contrib/fusebox-sync.service > "$pkg/lib/systemd/system/fusebox-sync@.service"

install -m 0755 contrib/deb/postinst contrib/deb/prerm contrib/deb/postrm "$pkg/DEBIAN/"
echo /etc/fusebox/rules.json > "$pkg/DEBIAN/conffiles"
printf 'Source: fusebox\n\nPackage: fusebox\nArchitecture: any\n' > "$src/debian/control"
depends=$(cd "$src" && dpkg-shlibdeps -O -edebian/fusebox/usr/bin/fusebox \
    "-edebian/fusebox/usr/lib/$multiarch/fusebox/libfusebox.so" | sed -n 's/^shlibs:Depends=//p')
# The shim loads libcjson with dlopen, which dpkg-shlibdeps cannot see;
# the postinst makes the group with addgroup.
depends="$depends, libcjson1, adduser"
(cd "$pkg" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' |
    LC_ALL=C sort -z | xargs -0 md5sum) > "$pkg/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
sed -e "s|@VERSION@|$VERSION|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$MAINTAINER|" \
    -e "s|@SIZE@|$size|" -e "s|@DEPENDS@|$depends|" contrib/deb/control.in > "$pkg/DEBIAN/control"

chmod -R u+rwX,go+rX,go-w "$pkg"
find "$pkg" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "make deb: $deb ($(stat -c %s "$deb") bytes)"
