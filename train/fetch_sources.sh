#!/usr/bin/env bash
# Downloads every source the default model is trained and evaluated on, from
# Debian's archive only, into train/data/raw (not committed).  Idempotent.
#
#   bash train/fetch_sources.sh
#
# 1. The package descriptions (Translation-en) and package lists (Packages,
#    for each binary's source) of four releases, from deb.debian.org.
# 2. Documentation packages (HTML and info manuals, FAQs), by apt-get
#    download, unpacked with dpkg-deb.  Never man pages, never dictionaries:
#    those are reserved for an independent evaluation (train/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
raw=train/data/raw
mkdir -p "$raw/lists" "$raw/debs" "$raw/docs"
mirror=http://deb.debian.org/debian
for rel in bullseye bookworm trixie sid; do
  for f in main/i18n/Translation-en.xz main/i18n/Translation-en.bz2 main/binary-amd64/Packages.xz; do
    out="$raw/lists/${rel}_$(echo "$f" | tr / _)"
    [ -s "$out" ] && continue
    curl -sfL -o "$out.part" "$mirror/dists/$rel/$f" && mv "$out.part" "$out" || rm -f "$out.part"
  done
done
DOCS=(python3.11-doc debian-reference-en debian-handbook postgresql-doc-15 sqlite3-doc gnu-standards
      apache2-doc debian-faq debian-policy developers-reference maint-guide python-django-doc r-doc-html
      guile-3.0-doc postfix-doc gnuplot-doc octave-doc rust-doc)
cd "$raw/debs"
for p in "${DOCS[@]}"; do
  ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download -qq "$p" 2>/dev/null || echo "fetch: cannot download $p" >&2
done
cd - >/dev/null
for deb in "$raw"/debs/*.deb; do
  p=$(basename "$deb" | cut -d_ -f1)
  [ -d "$raw/docs/$p" ] || { mkdir -p "$raw/docs/$p.part" && dpkg-deb -x "$deb" "$raw/docs/$p.part" && mv "$raw/docs/$p.part" "$raw/docs/$p"; }
done
du -sh "$raw/lists" "$raw/docs"
