export async function benchQuery(_: {rows:number;samples:number}) {}
