export function run(): unknown { return {}; }
