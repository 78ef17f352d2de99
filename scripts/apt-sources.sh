#!/usr/bin/env bash
# apt-sources.sh prints this machine's Debian apt sources for one release as
# one-line entries, "deb [signed-by=...] URI SUITE COMPONENTS...": the release
# itself, its -updates and its -security suites, Debian's components only.
# Other repositories (third-party, disabled files, deb-src) are left out. The
# image scripts bootstrap root filesystems from them, so no mirror host is
# ever written in the repository.
#
# Usage: scripts/apt-sources.sh CODENAME
set -euo pipefail

codename=${1:?usage: apt-sources.sh CODENAME}

apt_sources() {
	local f
	local -a lists=() deb822=()
	[[ -r /etc/apt/sources.list ]] && lists+=(/etc/apt/sources.list)
	for f in /etc/apt/sources.list.d/*.list; do [[ -r $f ]] && lists+=("$f"); done
	for f in /etc/apt/sources.list.d/*.sources; do [[ -r $f ]] && deb822+=("$f"); done
	local awk_common='
		function keep_suite(s) {
			return s == cn || s == cn "-updates" || s == cn "-security" || s == cn "/updates"
		}
		# debian_components keeps the components of Debian itself, "" if main is not one.
		function debian_components(list,   n, i, a, out, main) {
			n = split(list, a, /[ \t]+/)
			out = ""; main = 0
			for (i = 1; i <= n; i++) {
				if (a[i] == "main") main = 1
				if (a[i] ~ /^(main|contrib|non-free|non-free-firmware)$/) out = out " " a[i]
			}
			return main ? out : ""
		}'
	if ((${#lists[@]} > 0)); then
		awk -v cn="$codename" "$awk_common"'
			{ sub(/^[ \t]+/, ""); if ($0 ~ /^#/) next; sub(/[ \t]#.*$/, "") }
			$1 != "deb" { next }
			{
				opts = ""; i = 2
				if ($2 ~ /^\[/) {
					opts = $2
					while (opts !~ /\]$/ && i < NF) { i++; opts = opts " " $i }
					i++
				}
				uri = $i; suite = $(i + 1); comps = ""
				for (j = i + 2; j <= NF; j++) comps = comps " " $j
				comps = debian_components(comps)
				if (uri != "" && keep_suite(suite) && comps != "")
					print "deb " (opts != "" ? opts " " : "") uri " " suite comps
			}' "${lists[@]}"
	fi
	if ((${#deb822[@]} > 0)); then
		# Paragraph mode: one stanza per record, one field per line;
		# continuation lines (an embedded key) start with a blank.
		awk -v cn="$codename" "$awk_common"'
			BEGIN { RS = ""; FS = "\n" }
			{
				delete f; key = ""
				for (l = 1; l <= NF; l++) {
					line = $l
					if (line ~ /^#/) continue
					if (line ~ /^[ \t]/) { if (key != "") f[key] = f[key] "\n" line; continue }
					p = index(line, ":"); if (p == 0) continue
					key = tolower(substr(line, 1, p - 1))
					val = substr(line, p + 1); gsub(/^[ \t]+|[ \t]+$/, "", val)
					f[key] = val
				}
				if (tolower(f["enabled"]) == "no" || (" " f["types"] " ") !~ / deb /) next
				opts = ""
				sb = f["signed-by"]
				if (sb != "" && sb !~ /\n/) { gsub(/[ \t]+/, ",", sb); opts = "[signed-by=" sb "] " }
				comps = debian_components(f["components"])
				if (comps == "") next
				nu = split(f["uris"], uris, /[ \t]+/); ns = split(f["suites"], suites, /[ \t]+/)
				for (u = 1; u <= nu; u++) for (s = 1; s <= ns; s++)
					if (uris[u] != "" && keep_suite(suites[s]))
						print "deb " opts uris[u] " " suites[s] comps
			}' "${deb822[@]}"
	fi
}

apt_sources | awk '!seen[$0]++'
