// The ES module face of index.cjs (one implementation, two ways in).
import { createRequire } from 'node:module';

const siamsql = createRequire(import.meta.url)('./index.cjs');
export const { getLoadablePath, getDefaultModelPath, load } = siamsql;
