// Installs what retrain needs on a fresh machine: npm packages, Debian's Fashion-MNIST package,
// the pretrained MobileNetV2 that nsfwjs bundles (written out as a plain TensorFlow.js model folder)
// and the native TensorFlow backend.
// It uses only Node built-ins, because it runs before node_modules exists.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureNativeTensorflow } from './native-tensorflow.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fashionMnistDir = '/usr/share/datasets/fashion-mnist';
const modelDir = path.join(root, '.retrain', 'models', 'mobilenet_v2');

function log(message) {
  console.log(`[setup] ${message}`);
}

function installNpmPackages() {
  const stamp = path.join(root, 'node_modules', '.package-lock.json');
  const lock = path.join(root, 'package-lock.json');
  if (existsSync(stamp) && statSync(stamp).mtimeMs >= statSync(lock).mtimeMs) return;
  log('Installing npm packages (npm ci).');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}

function installFashionMnist() {
  if (existsSync(path.join(fashionMnistDir, 'train-images-idx3-ubyte.gz'))) return;
  log(`Fashion-MNIST is missing from ${fashionMnistDir}; installing Debian's dataset-fashion-mnist package.`);
  const sudo = process.getuid && process.getuid() === 0 ? [] : ['sudo'];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['apt-get', 'update', '-qq'],
    ['apt-get', 'install', '-y', '-qq', 'dataset-fashion-mnist'],
  ]) {
    const command = [...sudo, ...args];
    const result = spawnSync(command[0], command.slice(1), { stdio: 'inherit', env });
    if (result.status !== 0) {
      throw new Error(
        `'${command.join(' ')}' failed with exit code ${result.status}. Install dataset-fashion-mnist by hand.`,
      );
    }
  }
}

// The report test renders the HTML report in headless Chromium, from Debian's chromium package.
function installChromium() {
  if (existsSync('/usr/bin/chromium') || process.env.RETRAIN_SKIP_CHROMIUM) return;
  log("Chromium is missing; installing Debian's chromium package for the report rendering test.");
  const sudo = process.getuid && process.getuid() === 0 ? [] : ['sudo'];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['apt-get', 'update', '-qq'],
    ['apt-get', 'install', '-y', '-qq', 'chromium'],
  ]) {
    const command = [...sudo, ...args];
    const result = spawnSync(command[0], command.slice(1), { stdio: 'inherit', env });
    if (result.status !== 0) {
      throw new Error(
        `'${command.join(' ')}' failed with exit code ${result.status}. Install chromium by hand.`,
      );
    }
  }
}

// nsfwjs ships its Keras-converted MobileNetV2 as UMD modules: model.min.js exports the model.json
// object and each group1-shardNofM.min.js exports one weight shard as a base64 string.
function writeBaseModel() {
  const target = path.join(modelDir, 'model.json');
  if (existsSync(target)) return;
  const require = createRequire(path.join(root, 'package.json'));
  // nsfwjs's "exports" map hides package.json, so the folder is found from node_modules' lookup paths.
  const packageDir = require.resolve
    .paths('nsfwjs')
    .map((dir) => path.join(dir, 'nsfwjs'))
    .find((dir) => existsSync(dir));
  const sourceDir = path.join(packageDir, 'dist', 'models', 'mobilenet_v2');
  const modelJson = require(path.join(sourceDir, 'model.min.js'));
  mkdirSync(modelDir, { recursive: true });
  for (const group of modelJson.weightsManifest) {
    group.paths = group.paths.map((shard) => {
      const base64 = require(path.join(sourceDir, `${shard}.min.js`));
      writeFileSync(path.join(modelDir, `${shard}.bin`), Buffer.from(base64, 'base64'));
      return `${shard}.bin`;
    });
  }
  const version = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')).version;
  writeFileSync(
    `${target}.tmp`,
    JSON.stringify({ format: 'layers-model', generatedBy: `nsfwjs ${version}`, ...modelJson }),
  );
  renameSync(`${target}.tmp`, target);
  log(`Wrote the pretrained MobileNetV2 from nsfwjs ${version} to ${modelDir}.`);
}

installNpmPackages();
installFashionMnist();
installChromium();
writeBaseModel();
ensureNativeTensorflow(root);
