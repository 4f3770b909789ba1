// Flamenco 3 job type: make shots alive on a render farm, one task per shot.
//
// Install: copy this file into the Manager's `scripts/` folder (next to the
// flamenco-manager executable) and restart the Manager; "Alive Batch" then
// appears as a job type. Each task runs on a Worker:
//
//   {blender} -c alive batch SHOTS.toml --out OUT --only SHOT
//
// i.e. the alive_blender CLI of the extension enabled in that Worker's Blender
// (or, with "CLI executable" set to a Python that has the bpy module,
// `python -m alive_blender batch ...`). SHOTS.toml, the .blend files it names
// and OUT must be on storage every Worker sees (Flamenco's shared storage).
// A shot's exit code fails only that shot's task: 2 = bad input (see its log
// OUT/logs/SHOT.log), 3 = stopped (re-queue the task: it resumes from its
// checkpoint), 1 = internal error.

const JOB_TYPE = {
  label: "Alive Batch",
  description: "Capture, train, roll out and bake every shot of a SHOTS.toml with alive_blender",
  settings: [
    { key: "shots_toml", type: "string", subtype: "file_path", required: true,
      description: "The SHOTS.toml ([defaults] + [[shot]] entries; see the alive_blender README)" },
    { key: "shot_names", type: "string", required: true,
      description: "Comma-separated names of the shots to run (the `name` of each [[shot]])" },
    { key: "out_dir", type: "string", subtype: "dir_path", required: true,
      description: "Output folder: OUT/NAME per shot, logs in OUT/logs" },
    { key: "cli_exe", type: "string", default: "{blender}",
      description: "Blender (with the alive extension enabled), or a Python with the bpy module" },
    { key: "cli_args", type: "string", default: "-c alive",
      description: "'-c alive' for Blender, '-m alive_blender' for a Python" },
  ],
};

function compileJob(job) {
  const settings = job.settings;
  const names = settings.shot_names.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length == 0) {
    throw "Alive Batch: shot_names lists no shot";
  }
  const cliArgs = settings.cli_args.split(" ").filter((a) => a.length > 0);
  const shotTasks = [];
  for (const name of names) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
      throw `Alive Batch: '${name}' is not a shot name`;
    }
    const args = cliArgs.concat(["batch", settings.shots_toml, "--out", settings.out_dir, "--only", name]);
    const task = author.Task(`alive-${name}`, "blender");
    task.addCommand(author.Command("exec", { exe: settings.cli_exe, args: args }));
    job.addTask(task);
    shotTasks.push(task);
  }
  // a last task that lists what every shot produced (reads OUT only)
  const summary = author.Task("alive-summary", "misc");
  summary.addCommand(author.Command("exec", {
    exe: settings.cli_exe,
    args: cliArgs.concat(["info", settings.out_dir]),
  }));
  for (const t of shotTasks) {
    summary.addDependency(t);
  }
  job.addTask(summary);
}
