// Test fixture (hosts.test.ts): make a one-host fleet, then die by SIGKILL so that no
// exit handler runs, leaving the fleet behind for cleanupLeftovers() to find.
import { createFleet } from "./hosts.ts";

const fleet = await createFleet([{ name: "crash1", kind: "legacy" }]);
process.stdout.write(`fleet up ${fleet.dir}\n`);
process.kill(process.pid, "SIGKILL");
