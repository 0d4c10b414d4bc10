#!/usr/bin/env bash
# Takes the README's screenshots of the till app from a real window: the demo store's
# kasir-till under Xvfb (Mesa's lavapipe renders wgpu without a GPU), driven by keys with
# xdotool as a cashier would, each screen grabbed with ImageMagick's `import`.
#
#   apt-get install xvfb mesa-vulkan-drivers xdotool imagemagick   # once
#   bash docs/screenshots.sh                                       # writes docs/*.png
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_PROFILE_RELEASE_DEBUG="${CARGO_PROFILE_RELEASE_DEBUG:-line-tables-only}"
cargo build --release -p kasir-ui --bin kasir-till
bin="${CARGO_TARGET_DIR:-target}/release/kasir-till"
data="$(mktemp -d)"
display=":${KASIR_SHOT_DISPLAY:-97}"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
till=""
cleanup() { [ -n "$till" ] && kill "$till" 2>/dev/null; kill "$xvfb" 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT
export DISPLAY="$display"
sleep 1
# No background sales: the screens show what the script did.
"$bin" --data "$data" --baskets-per-minute 0 > "$data/till.log" 2>&1 &
till=$!
for _ in $(seq 1 120); do
    xdotool search --onlyvisible --name '^kasir$' >/dev/null 2>&1 && break
    sleep 1
done
window=$(xdotool search --onlyvisible --name '^kasir$' | head -1)
[ -n "$window" ] || { echo "no window"; cat "$data/till.log"; exit 1; }
# No window manager: the keyboard goes where the pointer is.
xdotool mousemove --window "$window" 500 700
xdotool windowfocus "$window" 2>/dev/null || true
shot() { sleep 1.5; import -window "$window" "docs/$1.png"; echo "docs/$1.png"; }
keys() { xdotool key --delay 120 "$@"; sleep 0.5; }
typed() { xdotool type --delay 60 "$1"; sleep 0.3; }

sleep 3
shot login
typed siti; keys Tab; typed 1234; keys Return
sleep 1; keys Return                       # open the shift with the proposed float
# Two packaged items by their EAN-13 (a wedge scanner types them), and apples off the scale
# (1,250 kg) by the label it printed.
for code in 8990010000447 8990010000454 2000001012505; do
    typed "$code"; keys Return
done
shot selling
keys F12
shot payment
keys F2                                    # the next banknote
shot receipt

keys Return                                # next customer
keys F9
typed DEMO01-001-00000001; keys Return   # the first sale of lane 1
shot refund
echo "screenshots in docs/"
