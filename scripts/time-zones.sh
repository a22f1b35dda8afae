#!/usr/bin/env bash
# Regenerates crates/hactl-config/src/time_zones.txt, the IANA time zone names
# scheduled scaling accepts, from the system's tz database (tzdata.zi).
set -euo pipefail
zi=${1:-/usr/share/zoneinfo/tzdata.zi}
out="$(dirname "$0")/../crates/hactl-config/src/time_zones.txt"
{
  echo "# IANA time zone names (zones and links) that scheduled scaling accepts in time_zone."
  echo "# From the IANA tz database $(head -1 "$zi" | sed 's/# version //') (tzdata.zi: \"Z\" and \"L\" lines); regenerate with"
  echo "# scripts/time-zones.sh when a new release adds a zone."
  awk '/^Z /{print $2} /^L /{print $3}' "$zi" | sort -u
} > "$out"
