import { Tensor } from 'onnxruntime-node';
import { InferenceRuntime } from '../server/src/analyzer/inference/InferenceRuntime.ts';
import { ModelRegistry } from '../server/src/analyzer/inference/ModelRegistry.ts';
import { decodeAudio, windowsOf } from '../server/src/analyzer/audio/decode.ts';
import { normalizeLevel } from '../server/src/analyzer/detectors/SyntheticVoiceDetector.ts';
import { syntheticCorpus } from '../server/src/analyzer/audio/tts.ts';
import { readdirSync } from 'node:fs';
const rt = new InferenceRuntime(ModelRegistry.load(), { provider: 'cpu' });
const dir = '/work/shared/data/speech/librispeech';
const files = readdirSync(dir).filter(d => /^\d+$/.test(d)).flatMap(d => readdirSync(`${dir}/${d}`).filter(f=>f.endsWith('.flac')).map(f => `${dir}/${d}/${f}`)).sort();
const real: Float32Array[] = []; for (const f of files) real.push(...windowsOf(await decodeAudio(f), {max:4}));
const synth: Float32Array[] = []; for (const c of await syntheticCorpus({perVoice: 3})) synth.push(...windowsOf(c.samples, {max:4}));
function activeDb(w: Float32Array) { const e: number[] = []; for (let i=0;i+320<=w.length;i+=320){let s=0;for(let j=i;j<i+320;j++)s+=w[j]!*w[j]!; e.push(s/320);} e.sort((a,b)=>b-a); const k=Math.max(1,Math.floor(e.length*0.3)); return 10*Math.log10(e.slice(0,k).reduce((a,b)=>a+b)/k); }
const auc=(r:number[],s:number[])=>{let w=0;for(const a of r)for(const b of s)w+=a>b?1:a===b?0.5:0;return w/(r.length*s.length);};
const mean=(a:number[])=>a.reduce((x,y)=>x+y)/a.length;
const conds: Record<string,(w:Float32Array)=>Float32Array> = {
  raw: w=>w,
  'p999-0.9': w=>normalizeLevel(w).samples,
  'p999-0.5': w=>normalizeLevel(w).samples.map(x=>x*0.5/0.9),
  'active-20': w=>{const g=10**((-20-activeDb(w))/20); return w.map(x=>Math.max(-1,Math.min(1,x*g)));},
};
for (const id of process.argv[2]!.split(',')) {
  const m = await rt.load(id);
  const score = async (w: Float32Array) => (await m.run({ waveform: new Tensor('float32', w, [1, 64600]) })).logits!.data[1] as number;
  for (const [name, f] of Object.entries(conds)) {
    const r: number[] = []; for (const w of real) r.push(await score(f(w)));
    const s: number[] = []; for (const w of synth) s.push(await score(f(w)));
    const rs=[...r].sort((a,b)=>a-b); const t=rs[Math.ceil(rs.length*0.05)]!;
    console.log(id, name.padEnd(12), 'real', mean(r).toFixed(2), 'synth', mean(s).toFixed(2), 'AUC', auc(r,s).toFixed(3), 'det@5%FA', (s.filter(x=>x<t).length/s.length).toFixed(2), 't', t.toFixed(2));
  }
}
await rt.close();
