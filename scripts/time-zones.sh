#!/usr/bin/env bash
# Regenerates crates/hactl-config/src/time_zones.txt, the canonical IANA time zone
# names (and UTC) scheduled scaling accepts, from the system's tz database (tzdata.zi).
set -euo pipefail
zi=${1:-/usr/share/zoneinfo/tzdata.zi}
out="$(dirname "$0")/../crates/hactl-config/src/time_zones.txt"
{
  echo "# IANA time zone names that scheduled scaling accepts in time_zone: the canonical zones"
  echo "# (AWS asks for canonical names; links such as US/Eastern are left out) and UTC."
  echo "# From the IANA tz database $(head -1 "$zi" | sed 's/# version //') (tzdata.zi: \"Z\" lines); regenerate with"
  echo "# scripts/time-zones.sh when a new release adds a zone."
  { awk '/^Z /{print $2}' "$zi"; echo UTC; } | sort -u
} > "$out"
