"""How much dynamic INT8 (per-channel int8 weights, per-tensor activations quantised per call, LibTorch's
quantized::linear_dynamic) moves the default model's features, in Python torch of the engine's version: cosine of
every block's normalised class token (what the default head reads) to fp32 for three samples, per engine and
reduce_range, per block left in fp32, per layer type, and with data-free SmoothQuant-style scaling folded into the
layer norms. Issue 13's note quotes its output.

    bash scripts/peer_env.sh && make clip-model
    .cache/venv-peer/bin/python scripts/int8_sensitivity.py
"""
import json, struct, numpy as np, torch, torch.nn.functional as F, warnings, sys
warnings.filterwarnings("ignore"); torch.set_num_threads(2)
def load(p):
    b=open(p,'rb').read(); n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n]); d={}
    for k,v in h.items():
        if k=='__metadata__': continue
        s,e=v['data_offsets']; dt={'F32':np.float32,'F16':np.float16,'BF16':None}[v['dtype']]
        d[k]=torch.from_numpy(np.frombuffer(b[8+n+s:8+n+e],dtype=dt).reshape(v['shape']).astype(np.float32).copy())
    return d
W=load('models/clip-probe.safetensors')
P='encoder.'
def ln(x,pre): return F.layer_norm(x,(768,),W[pre+'.weight'],W[pre+'.bias'])
def qpack(w,b):
    sc=(w.abs().amax(1).clamp_min(1e-12)/127).double()
    q=torch.quantize_per_channel(w,sc,torch.zeros(w.shape[0],dtype=torch.long),0,torch.qint8)
    return torch.ops.quantized.linear_prepack(q,b)
RR=True
def lin(x,w,b,mode):
    if mode=='fp32': return F.linear(x,w,b)
    return torch.ops.quantized.linear_dynamic(x.contiguous(),qpack(w,b),RR)
def fwd(x,mode,skip=()):
    p=F.conv2d(x,W[P+'conv1.weight'],stride=16).flatten(2).transpose(1,2)
    n=x.shape[0]; h=torch.cat([W[P+'class_embedding'].expand(n,1,768),p],1)+W[P+'positional_embedding']
    h=ln(h,P+'ln_pre'); toks=[]
    for i in range(12):
        m=mode if i not in skip else 'fp32'
        b=f'{P}transformer.resblocks.{i}.'
        y=ln(h,b+'ln_1'); qkv=lin(y,W[b+'attn.in_proj_weight'],W[b+'attn.in_proj_bias'],m)
        q,k,v=[t.reshape(n,197,12,64).transpose(1,2) for t in qkv.chunk(3,-1)]
        a=F.scaled_dot_product_attention(q,k,v).transpose(1,2).reshape(n,197,768)
        h=h+lin(a,W[b+'attn.out_proj.weight'],W[b+'attn.out_proj.bias'],m)
        f=lin(ln(h,b+'ln_2'),W[b+'mlp.c_fc.weight'],W[b+'mlp.c_fc.bias'],m); f=f*torch.sigmoid(1.702*f)
        h=h+lin(f,W[b+'mlp.c_proj.weight'],W[b+'mlp.c_proj.bias'],m)
        toks.append(F.layer_norm(h[:,0],(768,)))
    return torch.cat(toks,1)
torch.manual_seed(0)
from PIL import Image
imgs=[]
for f in ["samples/real-earth-apollo17.jpg","samples/fake-sdxl-turbo.png","samples/real-IMG_0003.jpg"]:
    im=Image.open(f).convert('RGB').resize((224,224)); a=torch.tensor(np.asarray(im),dtype=torch.float32).permute(2,0,1)/255
    imgs.append((a-torch.tensor([0.48145466,0.4578275,0.40821073])[:,None,None])/torch.tensor([0.26862954,0.26130258,0.27577711])[:,None,None])
x=torch.stack(imgs)
with torch.no_grad():
    r=fwd(x,'fp32')
    for eng in ['onednn','fbgemm']:
        torch.backends.quantized.engine=eng
        for rr in [True,False]:
            RR=rr; q=fwd(x,'int8'); print(eng,'reduce_range',rr,F.cosine_similarity(q,r).tolist())
    torch.backends.quantized.engine='onednn'; RR=False
    for i in range(12):
        q=fwd(x,'int8',skip=(i,)); print('skip block',i,[round(v,4) for v in F.cosine_similarity(q,r).tolist()])
print("---- per layer type (onednn, reduce_range True)")
RR=True
def fwd2(x,types,fpblocks=()):
    p=F.conv2d(x,W[P+'conv1.weight'],stride=16).flatten(2).transpose(1,2)
    n=x.shape[0]; h=torch.cat([W[P+'class_embedding'].expand(n,1,768),p],1)+W[P+'positional_embedding']
    h=ln(h,P+'ln_pre'); toks=[]
    for i in range(12):
        b=f'{P}transformer.resblocks.{i}.'
        m=lambda t: 'int8' if (t in types and i not in fpblocks) else 'fp32'
        y=ln(h,b+'ln_1'); qkv=lin(y,W[b+'attn.in_proj_weight'],W[b+'attn.in_proj_bias'],m('qkv'))
        q,k,v=[t.reshape(n,197,12,64).transpose(1,2) for t in qkv.chunk(3,-1)]
        a=F.scaled_dot_product_attention(q,k,v).transpose(1,2).reshape(n,197,768)
        h=h+lin(a,W[b+'attn.out_proj.weight'],W[b+'attn.out_proj.bias'],m('out'))
        f=lin(ln(h,b+'ln_2'),W[b+'mlp.c_fc.weight'],W[b+'mlp.c_fc.bias'],m('fc')); f=f*torch.sigmoid(1.702*f)
        h=h+lin(f,W[b+'mlp.c_proj.weight'],W[b+'mlp.c_proj.bias'],m('proj'))
        toks.append(F.layer_norm(h[:,0],(768,)))
    return torch.cat(toks,1)
with torch.no_grad():
    for types in [('qkv',),('out',),('fc',),('proj',),('qkv','fc'),('qkv','out','fc')]:
        q=fwd2(x,types); print(types,[round(v,4) for v in F.cosine_similarity(q,r).tolist()])
print("---- data-free smoothing of LN-fed layers")
def smooth(gamma,beta,w,alpha=0.5):
    a=(gamma.abs()+beta.abs()).clamp_min(1e-5); wm=w.abs().amax(0).clamp_min(1e-5)
    return (a**alpha/wm**(1-alpha)).clamp_min(1e-5)
def fwd3(x,types,alpha=0.5):
    p=F.conv2d(x,W[P+'conv1.weight'],stride=16).flatten(2).transpose(1,2)
    n=x.shape[0]; h=torch.cat([W[P+'class_embedding'].expand(n,1,768),p],1)+W[P+'positional_embedding']
    h=ln(h,P+'ln_pre'); toks=[]
    for i in range(12):
        b=f'{P}transformer.resblocks.{i}.'
        g1,b1=W[b+'ln_1.weight'],W[b+'ln_1.bias']; wq=W[b+'attn.in_proj_weight']
        s=smooth(g1,b1,wq,alpha) if 'qkv' in types else torch.ones(768)
        y=F.layer_norm(h,(768,),g1/s,b1/s); qkv=lin(y,wq*s,W[b+'attn.in_proj_bias'],'int8' if 'qkv' in types else 'fp32')
        q,k,v=[t.reshape(n,197,12,64).transpose(1,2) for t in qkv.chunk(3,-1)]
        a=F.scaled_dot_product_attention(q,k,v).transpose(1,2).reshape(n,197,768)
        h=h+lin(a,W[b+'attn.out_proj.weight'],W[b+'attn.out_proj.bias'],'int8' if 'out' in types else 'fp32')
        g2,b2=W[b+'ln_2.weight'],W[b+'ln_2.bias']; wf=W[b+'mlp.c_fc.weight']
        s=smooth(g2,b2,wf,alpha) if 'fc' in types else torch.ones(768)
        f=lin(F.layer_norm(h,(768,),g2/s,b2/s),wf*s,W[b+'mlp.c_fc.bias'],'int8' if 'fc' in types else 'fp32'); f=f*torch.sigmoid(1.702*f)
        h=h+lin(f,W[b+'mlp.c_proj.weight'],W[b+'mlp.c_proj.bias'],'int8' if 'proj' in types else 'fp32')
        toks.append(F.layer_norm(h[:,0],(768,)))
    return torch.cat(toks,1)
with torch.no_grad():
    for al in [0.5,0.7,0.85]:
        for types in [('qkv',),('fc',),('qkv','out','fc')]:
            q=fwd3(x,types,al); print(al,types,[round(v,4) for v in F.cosine_similarity(q,r).tolist()])
