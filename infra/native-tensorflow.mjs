// Builds @tensorflow/tfjs-node's native addon without internet access beyond the package
// registries. tfjs-node's own install script downloads libtensorflow from Google's storage, which
// is not reachable here. Instead this script takes libtensorflow_cc.so.2, libtensorflow_framework.so.2
// and the C headers from the official tensorflow-cpu wheel on PyPI, compiles the addon against them
// with node-gyp, and caches both outside the repository so that each machine builds once.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';

/** TensorFlow release whose C API the addon is built against; its wheel ships the C headers. */
export const TENSORFLOW_VERSION = '2.18.1';

function log(message) {
  console.log(`[native-tensorflow] ${message}`);
}

function cacheDir() {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'retrain');
}

/** Downloads the tensorflow-cpu wheel with pip and unpacks its shared libraries and headers once. */
function provisionLibtensorflow() {
  const target = path.join(cacheDir(), 'libtensorflow', TENSORFLOW_VERSION);
  if (existsSync(path.join(target, 'lib', 'libtensorflow_cc.so.2'))) return target;

  const wheels = path.join(cacheDir(), 'wheels');
  mkdirSync(wheels, { recursive: true });
  const wheelName = () =>
    readdirSync(wheels).find((name) => name.startsWith(`tensorflow_cpu-${TENSORFLOW_VERSION}-`));
  if (!wheelName()) {
    log(
      `Downloading the tensorflow-cpu ${TENSORFLOW_VERSION} wheel from PyPI (about 230 MB) into ${wheels}.`,
    );
    // The shared libraries do not depend on the Python version, so any CPython tag will do.
    execFileSync(
      'python3',
      [
        '-m',
        'pip',
        'download',
        '--quiet',
        '--no-deps',
        '--only-binary=:all:',
        '--platform',
        'manylinux2014_x86_64',
        '--python-version',
        '3.11',
        '-d',
        wheels,
        `tensorflow-cpu==${TENSORFLOW_VERSION}`,
      ],
      { stdio: 'inherit' },
    );
  }
  const wheel = path.join(wheels, wheelName());

  const staging = `${target}.partial`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  log(`Unpacking libtensorflow and its C headers from ${path.basename(wheel)}.`);
  execFileSync(
    'python3',
    [
      '-c',
      `
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    for name in wheel.namelist():
        if name in ('tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2') or name.startswith('tensorflow/include/'):
            wheel.extract(name, sys.argv[2])
`,
      wheel,
      staging,
    ],
    { stdio: 'inherit' },
  );
  mkdirSync(path.join(staging, 'lib'));
  for (const library of ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2']) {
    renameSync(path.join(staging, 'tensorflow', library), path.join(staging, 'lib', library));
  }
  renameSync(path.join(staging, 'tensorflow', 'include'), path.join(staging, 'include'));
  rmSync(path.join(staging, 'tensorflow'), { recursive: true });
  mkdirSync(path.dirname(target), { recursive: true });
  renameSync(staging, target);
  return target;
}

/** Points tfjs-node's deps/ folder at the unpacked libtensorflow, under the names binding.gyp links. */
function linkDeps(packageDir, libtensorflow) {
  const deps = path.join(packageDir, 'deps');
  rmSync(deps, { recursive: true, force: true });
  mkdirSync(path.join(deps, 'lib'), { recursive: true });
  symlinkSync(path.join(libtensorflow, 'include'), path.join(deps, 'include'));
  for (const library of ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2']) {
    symlinkSync(path.join(libtensorflow, 'lib', library), path.join(deps, 'lib', library));
  }
  // binding.gyp links -ltensorflow -ltensorflow_framework; in the wheel the C API lives in libtensorflow_cc.
  symlinkSync('libtensorflow_cc.so.2', path.join(deps, 'lib', 'libtensorflow.so'));
  symlinkSync('libtensorflow_framework.so.2', path.join(deps, 'lib', 'libtensorflow_framework.so'));
}

function nodeGyp() {
  const candidates = [
    path.join(
      path.dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
  ];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) throw new Error(`node-gyp was not found in ${candidates.join(', ')}. Install npm's node-gyp.`);
  return found;
}

/** Folder with Node's C headers (include/node/node_api.h), so node-gyp needs no download. */
function nodeHeadersDir() {
  for (const candidate of [path.join(path.dirname(process.execPath), '..'), '/usr', '/usr/local']) {
    if (existsSync(path.join(candidate, 'include', 'node', 'node_api.h'))) return path.resolve(candidate);
  }
  throw new Error(
    "Node's C headers (include/node/node_api.h) were not found next to the node binary, in /usr or in /usr/local.",
  );
}

/**
 * Makes `require('@tensorflow/tfjs-node')` work in the project at `root`. Returns false, after
 * printing why, when the addon cannot be built; callers then fall back to the wasm backend.
 */
export function ensureNativeTensorflow(root) {
  const require = createRequire(path.join(root, 'package.json'));
  let packageDir;
  try {
    packageDir = path.dirname(require.resolve('@tensorflow/tfjs-node/package.json'));
  } catch {
    log('@tensorflow/tfjs-node is not installed; workers will use the wasm backend.');
    return false;
  }
  const { version, binary } = require('@tensorflow/tfjs-node/package.json');
  const napiVersion = Math.max(...binary.napi_versions.filter((v) => v <= Number(process.versions.napi)));
  const addon = path.join(packageDir, 'lib', `napi-v${napiVersion}`, 'tfjs_binding.node');
  const cachedAddon = path.join(
    cacheDir(),
    'tfjs-node',
    `${version}-tf${TENSORFLOW_VERSION}-napi${napiVersion}`,
    'tfjs_binding.node',
  );

  try {
    const libtensorflow = provisionLibtensorflow();
    linkDeps(packageDir, libtensorflow);
    if (!existsSync(cachedAddon)) {
      log(`Building the tfjs-node ${version} addon against TensorFlow ${TENSORFLOW_VERSION} with node-gyp.`);
      const build = spawnSync(
        process.execPath,
        [
          nodeGyp(),
          'rebuild',
          `--nodedir=${nodeHeadersDir()}`,
          `--jobs=${os.cpus().length}`,
          '--loglevel=error',
          '--module_name=tfjs_binding',
          `--module_path=lib/napi-v${napiVersion}`,
          `--napi_build_version=${napiVersion}`,
        ],
        { cwd: packageDir, stdio: ['ignore', 'ignore', 'inherit'] },
      );
      if (build.status !== 0) throw new Error(`node-gyp exited with code ${build.status}`);
      mkdirSync(path.dirname(cachedAddon), { recursive: true });
      copyFileSync(path.join(packageDir, 'build', 'Release', 'tfjs_binding.node'), cachedAddon);
    }
    mkdirSync(path.dirname(addon), { recursive: true });
    copyFileSync(cachedAddon, addon);
  } catch (error) {
    log(`Building tfjs-node failed (${error.message}); workers will use the wasm backend.`);
    return false;
  }

  // Load it in a child process: a broken addon must not take the setup down with it.
  const check = spawnSync(
    process.execPath,
    ['-e', "const tf = require('@tensorflow/tfjs-node'); process.stdout.write(tf.getBackend())"],
    {
      cwd: root,
      encoding: 'utf8',
    },
  );
  if (check.status !== 0 || check.stdout.trim() !== 'tensorflow') {
    log(
      `tfjs-node was built but does not load: ${(check.stderr || check.stdout).trim().split('\n').slice(-3).join(' ')}`,
    );
    return false;
  }
  log(`tfjs-node ${version} loads with TensorFlow ${TENSORFLOW_VERSION} (${addon}).`);
  return true;
}
