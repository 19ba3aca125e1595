import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.bed*/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      // No shell command string is ever built: processes are spawned with argument arrays.
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'child_process', importNames: ['exec', 'execSync'], message: 'Spawn with an argument array (spawn/execFile), never a shell string.' },
            { name: 'node:child_process', importNames: ['exec', 'execSync'], message: 'Spawn with an argument array (spawn/execFile), never a shell string.' },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "Property[key.name='shell'][value.value=true]", message: 'shell: true runs a shell string; pass an argument array instead.' },
        { selector: "CallExpression[callee.property.name='exec'][callee.object.name='cp']", message: 'Spawn with an argument array, never a shell string.' },
      ],
    },
  },
);
