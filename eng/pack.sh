#!/usr/bin/env bash
# Packs everything a release publishes into artifacts/ (or the folder given as $1):
#   HealthChecks.TcpShaker.VERSION.nupkg/.snupkg              the library
#   HealthChecks.TcpShaker.Tool.VERSION.nupkg                  the tool package `dotnet tool install` asks for;
#                                                              it names one package per runtime:
#   HealthChecks.TcpShaker.Tool.linux-x64.VERSION.nupkg        native (AOT) executable
#   HealthChecks.TcpShaker.Tool.linux-arm64.VERSION.nupkg      native (AOT) executable, cross-compiled
#   HealthChecks.TcpShaker.Tool.any.VERSION.nupkg/.snupkg      framework-dependent, for every other platform
#   tcp-shaker-VERSION-linux-{x64,arm64}.tar.gz                the bare executable, for images without .NET
# Needs (Debian): clang zlib1g-dev for linux-x64; gcc-aarch64-linux-gnu libc6-dev-arm64-cross
# for linux-arm64 (clang links it with the cross toolchain's libraries). RIDS="linux-x64" packs one.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-artifacts}")
rids=${RIDS:-"linux-x64 linux-arm64"}
tool=src/HealthChecks.TcpShaker.Tool/HealthChecks.TcpShaker.Tool.csproj
mkdir -p "$out"

dotnet pack src/HealthChecks.TcpShaker/HealthChecks.TcpShaker.csproj -c Release -o "$out"   # the library
dotnet pack "$tool" -c Release -o "$out"                        # the tool's pointer package
dotnet pack "$tool" -c Release -r any -o "$out"                 # the framework-dependent fallback
version=$(dotnet msbuild "$tool" -getProperty:Version)
for rid in $rids; do
  dotnet pack "$tool" -c Release -r "$rid" -o "$out"            # native AOT, published and packed
  staging=$(mktemp -d)
  cp "src/HealthChecks.TcpShaker.Tool/bin/Release/net10.0/$rid/publish/tcp-shaker" LICENSE "$staging/"
  tar -C "$staging" -czf "$out/tcp-shaker-$version-$rid.tar.gz" tcp-shaker LICENSE
  rm -rf "$staging"
done
ls -l "$out"
