import { execFileSync } from 'node:child_process';

/**
 * Builds an archive with Python's zipfile or tarfile modules from a list of entries, which can be
 * hostile: paths with `..`, absolute paths and symbolic links.
 */
export function writeArchive(
  file: string,
  entries: { name: string; data?: Buffer; symlinkTo?: string }[],
): void {
  const script = `
import io, json, sys, tarfile, zipfile, base64
file, entries = sys.argv[1], json.loads(sys.stdin.read())
if file.endswith('.zip'):
    with zipfile.ZipFile(file, 'w') as archive:
        for entry in entries:
            if entry.get('symlinkTo'):
                info = zipfile.ZipInfo(entry['name'])
                info.external_attr = (0o120777 << 16)
                archive.writestr(info, entry['symlinkTo'])
            else:
                archive.writestr(entry['name'], base64.b64decode(entry.get('data', '')))
else:
    with tarfile.open(file, 'w:gz' if file.endswith('gz') else 'w') as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry['name'])
            if entry.get('symlinkTo'):
                info.type = tarfile.SYMTYPE
                info.linkname = entry['symlinkTo']
                archive.addfile(info)
            else:
                data = base64.b64decode(entry.get('data', ''))
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
`;
  const payload = entries.map((entry) => ({ ...entry, data: entry.data?.toString('base64') }));
  execFileSync('python3', ['-c', script, file], { input: JSON.stringify(payload) });
}
