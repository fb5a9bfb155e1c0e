/**
 * A project outside this repository that installed `errand`, as its author would have it: the
 * package in node_modules (a link to this checkout, so its package.json `exports` and built
 * dist/ are what resolves), Node's types, and a strict tsconfig checking its *.ts files.
 */
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './build.ts';

/** Makes the project with `files` (name → text) in it; answers its folder. */
export async function makePackageUser(name: string, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `errand-${name}-`));
  await mkdir(join(dir, 'node_modules/@types'), { recursive: true });
  await symlink(REPO_ROOT, join(dir, 'node_modules/errand'), 'dir');
  await symlink(join(REPO_ROOT, 'node_modules/@types/node'), join(dir, 'node_modules/@types/node'), 'dir');
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name, type: 'module', private: true }));
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
    include: ['*.ts'],
  }));
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  return dir;
}
