# Sourced by the project's scripts: puts Node 24 on PATH. The action runs on node24 and
# @kubernetes/client-node 2 needs Node >= 22.19; when the machine's node is older, Node 24 is
# installed from the npm registry (the `node` package) into the cache dir, once.
GAC_CACHE="${GAC_CACHE:-$HOME/.cache/gpu-autoscaling-conformance}"
export GAC_CACHE
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt 24 ]; then
  NODE24_DIR="$GAC_CACHE/node24"
  if [ ! -x "$NODE24_DIR/node_modules/node/bin/node" ]; then
    echo "installing Node 24 from the npm registry into $NODE24_DIR" >&2
    mkdir -p "$NODE24_DIR"
    # The node package fetches its platform binary in a preinstall script; allow exactly that.
    npm install --no-save --no-audit --no-fund --prefix "$NODE24_DIR" node@24 >&2
  fi
  export PATH="$NODE24_DIR/node_modules/.bin:$PATH"
fi
if [ "$(node_major)" -lt 24 ]; then
  echo "error: Node 24 is required and could not be installed (node is $(node --version 2>/dev/null || echo missing))" >&2
  exit 1
fi
