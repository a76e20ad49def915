#!/usr/bin/env bash
# Packs everything a release publishes into artifacts/ (or the folder given as $1):
#   every project under src/ whose IsPackable is not false, .nupkg and .snupkg:
#   HealthChecks.TcpShaker, HealthChecks.TcpShaker.Yarp, ... (a new project is found, not listed here)
#   and, for the tool (PackAsTool with ToolPackageRuntimeIdentifiers):
#   HealthChecks.TcpShaker.Tool.VERSION.nupkg                  the tool package `dotnet tool install` asks for;
#                                                              it names one package per runtime:
#   HealthChecks.TcpShaker.Tool.linux-x64.VERSION.nupkg        native (AOT) executable
#   HealthChecks.TcpShaker.Tool.linux-arm64.VERSION.nupkg      native (AOT) executable, cross-compiled
#   HealthChecks.TcpShaker.Tool.any.VERSION.nupkg/.snupkg      framework-dependent, for every other platform
#   tcp-shaker-VERSION-linux-{x64,arm64}.tar.gz                the bare executable, for images without .NET
# Needs (Debian): clang zlib1g-dev for native AOT; gcc-aarch64-linux-gnu libc6-dev-arm64-cross for linux-arm64 on
# an x64 machine (clang links it with the cross toolchain's libraries), gcc-x86-64-linux-gnu
# libc6-dev-amd64-cross for linux-x64 on an arm64 machine.
# With no RIDS, a runtime whose executable this machine cannot link is skipped, with the reason and
# the packages to install; RIDS="linux-x64" packs the runtimes named, and fails if one cannot be linked.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-artifacts}")
mkdir -p "$out"
skipped=()

# The target triple clang links a runtime's executable for, and the Debian packages that provide it.
triple() {
  case $1 in
    linux-x64) echo x86_64-linux-gnu ;;
    linux-arm64) echo aarch64-linux-gnu ;;
    *) echo "" ;;
  esac
}
cross_packages() {
  case $1 in
    linux-x64) echo "gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;;
    linux-arm64) echo "gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;;
  esac
}

# Prints why this machine cannot link a native executable for runtime $1, or nothing when it can:
# clang links a small C program for the runtime's target, as native AOT's link step does.
cannot_link() {
  local rid=$1 target
  target=$(triple "$rid")
  if ! command -v clang >/dev/null; then
    echo "native AOT needs clang, which is not on PATH (Debian: apt-get install clang)"
    return
  fi
  if [[ -z $target ]]; then
    return   # a runtime this script has no probe for: let the build say
  fi
  local probe
  probe=$(mktemp -d)
  printf 'int main(void) { return 0; }\n' > "$probe/probe.c"
  if ! clang --target="$target" "$probe/probe.c" -o "$probe/probe" > "$probe/log" 2>&1; then
    echo "clang cannot link for $target on this $(uname -m) machine ($(grep -m1 -iE 'error|unrecogni[sz]ed|cannot find' "$probe/log" || head -n1 "$probe/log")); Debian: apt-get install $(cross_packages "$rid")"
  fi
  rm -rf "$probe"
}

for project in $(find src -name '*.csproj' | sort); do
  properties=$(dotnet msbuild "$project" -getProperty:IsPackable -getProperty:PackAsTool -getProperty:ToolPackageRuntimeIdentifiers -getProperty:ToolCommandName)
  property() { sed -n "s/^ *\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" <<< "$properties"; }
  if [[ $(property IsPackable) == false ]]; then
    continue
  fi
  dotnet pack "$project" -c Release -o "$out"
  if [[ $(property PackAsTool) != true || -z $(property ToolPackageRuntimeIdentifiers) ]]; then
    continue
  fi

  # A tool with a package per runtime: the package above names them; each is packed here.
  command=$(property ToolCommandName)
  version=$(dotnet msbuild "$project" -getProperty:Version)
  all_rids=$(property ToolPackageRuntimeIdentifiers | tr ';' ' ')
  for rid in $all_rids; do
    if [[ $rid == any ]]; then
      dotnet pack "$project" -c Release -r any -o "$out"        # the framework-dependent fallback
      continue
    fi
    if [[ -n ${RIDS+set} && " $RIDS " != *" $rid "* ]]; then
      continue
    fi
    reason=$(cannot_link "$rid")
    if [[ -n $reason ]]; then
      if [[ -n ${RIDS+set} ]]; then
        echo "pack.sh: cannot pack $rid, named in RIDS: $reason" >&2
        exit 1
      fi
      skipped+=("$rid: $reason")
      continue
    fi
    dotnet pack "$project" -c Release -r "$rid" -o "$out"      # native AOT, published and packed
    staging=$(mktemp -d)
    cp "$(dirname "$project")/bin/Release/net10.0/$rid/publish/$command" LICENSE "$staging/"
    tar -C "$staging" -czf "$out/$command-$version-$rid.tar.gz" "$command" LICENSE
    rm -rf "$staging"
  done
done
ls -l "$out"
for line in "${skipped[@]}"; do
  echo "pack.sh: skipped $line (the tool package still names it; its own package is not in $out)." >&2
done
