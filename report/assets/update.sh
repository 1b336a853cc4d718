#!/usr/bin/env bash
# Updates the vendored Apache ECharts from the npm registry:
#   bash report/assets/update.sh 6.1.0
# then rebuild, run the report's tests (go test ./report and the browser
# test in integration/), look at a report, and commit the new files.
set -euo pipefail
version=${1:?usage: update.sh VERSION}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "echarts@$version" >/dev/null && tar xzf "echarts-$version.tgz")
cp "$tmp/package/dist/echarts.min.js" "$here/echarts.min.js"
cp "$tmp/package/LICENSE" "$here/ECHARTS-LICENSE"
cp "$tmp/package/NOTICE" "$here/ECHARTS-NOTICE"
echo "$version" > "$here/ECHARTS-VERSION"
echo "echarts $version vendored into $here"
